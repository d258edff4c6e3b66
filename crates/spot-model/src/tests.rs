//! Tests of the model runtime on the real ONNX Runtime and the committed tiny model
//! (fixtures/models/tiny, built by fixtures/models/make_tiny.py), against golden outputs of the
//! Python reference; plus the default SmolLM2 model when it is built.
//!
//! ONNX Runtime is found by the same discovery as spot (ORT_DYLIB_PATH, the data dir, python3).
//! The tests that need it (and the SmolLM2 one, which needs `fixtures/models/setup.sh`'s model)
//! are `#[ignore]`d with the command that installs it: a plain `cargo test` lists them as
//! ignored; `cargo test -- --include-ignored` (tests/run.sh) runs them and fails on a missing
//! runtime or model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::*;
use crate::testing::{runtime, tiny, TINY};

#[derive(Debug, Deserialize)]
struct Golden {
    eos_token_ids: Vec<u32>,
    #[serde(default)]
    context_length: usize,
    prompts: Vec<GoldenPrompt>,
    #[serde(default)]
    chat: Vec<GoldenChat>,
    #[serde(default)]
    encodings: Vec<GoldenEncoding>,
}

#[derive(Debug, Deserialize)]
struct GoldenPrompt {
    text: String,
    add_special_tokens: bool,
    prompt_ids: Vec<u32>,
    max_new_tokens: usize,
    greedy_ids: Vec<u32>,
}

#[derive(Debug, Deserialize)]
struct GoldenChat {
    messages: Vec<ChatMessage>,
    add_generation_prompt: bool,
    rendered: String,
}

#[derive(Debug, Deserialize)]
struct GoldenEncoding {
    text: String,
    ids: Vec<u32>,
}

fn read_golden(path: &Path) -> Golden {
    let text = std::fs::read_to_string(path).expect("golden file is readable");
    serde_json::from_str(&text).expect("golden file parses")
}

fn tiny_golden() -> Golden {
    read_golden(&Path::new(TINY).join("golden.json"))
}

fn greedy(max_new_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_new_tokens,
        ..GenerateParams::default()
    }
}

/// Copies the tiny model into a temp dir so a test can break one file.
fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(TINY).expect("tiny model dir") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

#[test]
fn model_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
    assert_send_sync::<Runtime>();
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_golden_greedy_tokens_equal_the_reference() {
    let model = tiny();
    let golden = tiny_golden();
    assert_eq!(model.info().eos_token_ids, golden.eos_token_ids);
    assert_eq!(model.context_length(), golden.context_length);
    for prompt in &golden.prompts {
        let ids = model
            .encode(&prompt.text, prompt.add_special_tokens)
            .expect("encodes");
        assert_eq!(ids, prompt.prompt_ids, "prompt ids of {:?}", prompt.text);
        let out = model
            .generate_ids(&ids, &greedy(prompt.max_new_tokens), &CancelToken::new())
            .expect("generates");
        assert_eq!(out, prompt.greedy_ids, "greedy ids of {:?}", prompt.text);
    }
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_streamed_text_equals_the_decoded_golden_tokens() {
    let model = tiny();
    let golden = tiny_golden();
    for prompt in &golden.prompts {
        let params = GenerateParams {
            add_special_tokens: prompt.add_special_tokens,
            ..greedy(prompt.max_new_tokens)
        };
        let mut streamed = String::new();
        let generation = model
            .generate(&prompt.text, &params, &CancelToken::new(), &mut |piece| {
                streamed.push_str(piece)
            })
            .expect("generates");
        assert_eq!(generation.tokens, prompt.greedy_ids);
        assert_eq!(generation.n_prompt_tokens, prompt.prompt_ids.len());
        assert_eq!(generation.n_new_tokens, prompt.greedy_ids.len());
        let expected = model.decode(&prompt.greedy_ids).expect("decodes");
        assert_eq!(generation.text, expected);
        assert_eq!(streamed, expected);
        let reason = if prompt
            .greedy_ids
            .last()
            .is_some_and(|id| golden.eos_token_ids.contains(id))
        {
            StopReason::Eos
        } else {
            StopReason::MaxTokens
        };
        assert_eq!(generation.stop_reason, reason);
    }
}

/// Every golden chat case renders exactly as transformers' `apply_chat_template` did.
fn assert_chat_matches_golden(model: &Model) {
    let golden = tiny_golden();
    assert!(!golden.chat.is_empty());
    for case in &golden.chat {
        let rendered = model
            .render_chat(&case.messages, case.add_generation_prompt)
            .expect("renders");
        assert_eq!(rendered, case.rendered);
    }
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_chat_template_equals_transformers() {
    let model = tiny();
    assert_chat_matches_golden(model);
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn chat_template_from_tokenizer_config_renders_the_same() {
    let rt = runtime();
    let dir = tiny_copy();
    let jinja = dir.path().join("chat_template.jinja");
    let source = std::fs::read_to_string(&jinja).expect("template");
    std::fs::remove_file(&jinja).expect("remove");
    let config_path = dir.path().join("tokenizer_config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).expect("read")).expect("json");
    config["chat_template"] = serde_json::Value::String(source);
    std::fs::write(&config_path, config.to_string()).expect("write");
    let model = Model::load(&rt, dir.path()).expect("loads");
    assert_chat_matches_golden(&model);
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_tokenizer_matches_transformers() {
    let model = tiny();
    for case in &tiny_golden().encodings {
        assert_eq!(model.encode(&case.text, false).expect("encodes"), case.ids);
        assert_eq!(
            model.count_tokens(&case.text).expect("counts"),
            case.ids.len()
        );
    }
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_graph_io_is_read_from_the_graph() {
    let model = tiny();
    let info = model.info();
    assert_eq!(info.layers, 2);
    assert_eq!(info.kv_heads, 2);
    assert_eq!(info.head_dim, 16);
    assert!(info.has_position_ids);
    assert!(!info.merged_decoder);
    assert_eq!(info.provider, Provider::Cpu);
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn sampling_with_a_seed_is_reproducible() {
    let model = tiny();
    let prompt = "def add(a, b):";
    let run = |seed| {
        let params = GenerateParams {
            max_new_tokens: 24,
            temperature: 0.9,
            top_p: 0.95,
            top_k: 50,
            seed,
            stop_on_eos: false,
            ..GenerateParams::default()
        };
        model
            .generate(prompt, &params, &CancelToken::new(), &mut |_| {})
            .expect("generates")
            .tokens
    };
    let a = run(7);
    assert_eq!(a.len(), 24);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    let greedy_ids = model
        .generate_ids(
            &model.encode(prompt, true).expect("encodes"),
            &GenerateParams {
                stop_on_eos: false,
                ..greedy(24)
            },
            &CancelToken::new(),
        )
        .expect("generates");
    assert_ne!(
        a, greedy_ids,
        "sampling at temperature 0.9 should leave the greedy path"
    );
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn cancellation_stops_within_one_token() {
    let model = tiny();
    let cancel = CancelToken::new();
    let mut pieces = 0;
    let params = GenerateParams {
        stop_on_eos: false,
        ..greedy(100)
    };
    let result = model.generate("def add(a, b):", &params, &cancel, &mut |_| {
        pieces += 1;
        cancel.cancel();
    });
    assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
    assert_eq!(pieces, 1, "no text after the token that cancelled");

    let cancelled = CancelToken::new();
    cancelled.cancel();
    let result = model.generate("x", &params, &cancelled, &mut |_| {});
    assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn a_queued_request_can_be_cancelled_while_waiting() {
    let model = tiny();
    let cancel = CancelToken::new();
    let busy = model.onnx().session.lock();
    let waiter = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            model
                .generate("def", &greedy(4), &cancel, &mut |_| {})
                .map(|g| g.tokens)
        })
    };
    std::thread::sleep(Duration::from_millis(60));
    cancel.cancel();
    let result = waiter.join().expect("waiter thread");
    drop(busy);
    assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn concurrent_requests_queue_and_give_the_sequential_answer() {
    let model = tiny();
    let golden = tiny_golden();
    let handles: Vec<_> = golden
        .prompts
        .iter()
        .map(|p| {
            let ids = p.prompt_ids.clone();
            let n = p.max_new_tokens;
            std::thread::spawn(move || {
                model
                    .generate_ids(&ids, &greedy(n), &CancelToken::new())
                    .expect("generates")
            })
        })
        .collect();
    for (handle, prompt) in handles.into_iter().zip(&golden.prompts) {
        assert_eq!(handle.join().expect("thread"), prompt.greedy_ids);
    }
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn stop_strings_cut_the_text_and_the_stream() {
    let model = tiny();
    let golden = tiny_golden();
    let prompt = golden.prompts.first().expect("a golden prompt");
    let full = model.decode(&prompt.greedy_ids).expect("decodes");
    // A stop string from the middle of the expected text, spanning several characters.
    let chars: Vec<(usize, char)> = full.char_indices().collect();
    let (start, _) = chars.get(chars.len() / 2).copied().expect("non-empty text");
    let end = chars
        .get(chars.len() / 2 + 3)
        .map_or(full.len(), |&(i, _)| i);
    let stop = full.get(start..end).expect("char boundaries").to_owned();
    let cut = full.find(&stop).expect("stop string occurs");
    let params = GenerateParams {
        stop: vec![stop.clone()],
        ..greedy(prompt.max_new_tokens)
    };
    let mut streamed = String::new();
    let generation = model
        .generate(&prompt.text, &params, &CancelToken::new(), &mut |piece| {
            streamed.push_str(piece)
        })
        .expect("generates");
    assert_eq!(
        generation.stop_reason,
        StopReason::StopString,
        "stop {stop:?}"
    );
    assert_eq!(generation.text, full.get(..cut).expect("boundary"));
    assert_eq!(streamed, generation.text);
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn a_prompt_longer_than_the_context_is_a_clear_error() {
    let model = tiny();
    let prompt = "def add(a, b):\n    return a + b\n".repeat(40);
    let err = model
        .generate(&prompt, &greedy(4), &CancelToken::new(), &mut |_| {})
        .expect_err("too long");
    assert!(
        matches!(err, ModelError::PromptTooLong { context: 128, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("context holds 128"), "{err}");

    // One token short of the context: generation stops when the context is full.
    let ids: Vec<u32> = std::iter::repeat_n(100, 126).collect();
    let out = model
        .generate_ids(
            &ids,
            &GenerateParams {
                stop_on_eos: false,
                ..greedy(10)
            },
            &CancelToken::new(),
        )
        .expect("fits");
    assert_eq!(out.len(), 2);
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn bad_model_directories_are_clear_errors() {
    let rt = runtime();

    let err = Model::load(&rt, Path::new("/nonexistent/spot-model")).expect_err("missing dir");
    assert!(err.to_string().contains("/nonexistent/spot-model"), "{err}");

    let dir = tiny_copy();
    std::fs::write(dir.path().join("model.onnx"), b"this is not a protobuf").expect("write");
    let err = Model::load(&rt, dir.path()).expect_err("corrupt model");
    assert!(matches!(err, ModelError::Session { .. }), "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");

    let dir = tiny_copy();
    std::fs::remove_file(dir.path().join("tokenizer.json")).expect("remove");
    let err = Model::load(&rt, dir.path()).expect_err("no tokenizer");
    assert!(
        matches!(
            err,
            ModelError::MissingFile {
                file: "tokenizer.json",
                ..
            }
        ),
        "{err}"
    );

    let dir = tiny_copy();
    std::fs::write(dir.path().join("tokenizer.json"), b"{ not json").expect("write");
    let err = Model::load(&rt, dir.path()).expect_err("corrupt tokenizer");
    assert!(matches!(err, ModelError::Tokenizer { .. }), "{err}");

    let dir = tiny_copy();
    std::fs::write(dir.path().join("config.json"), b"[1, 2").expect("write");
    let err = Model::load(&rt, dir.path()).expect_err("corrupt config");
    assert!(matches!(err, ModelError::InvalidFile { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");

    // A tokenizer with more tokens than the model has logits belongs to another model.
    let dir = tiny_copy();
    let path = dir.path().join("tokenizer.json");
    let mut tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    if let Some(added) = tokenizer
        .get_mut("added_tokens")
        .and_then(|a| a.as_array_mut())
    {
        added.push(serde_json::json!({
            "id": 700, "content": "<|extra|>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    }
    std::fs::write(&path, tokenizer.to_string()).expect("write");
    let err = Model::load(&rt, dir.path()).expect_err("vocab mismatch");
    assert!(matches!(err, ModelError::VocabMismatch { .. }), "{err}");

    let report = inspect_dir(Path::new(TINY));
    assert!(report.is_ok(), "{report:?}");
    let dir = tiny_copy();
    std::fs::remove_file(dir.path().join("model.onnx")).expect("remove");
    let report = inspect_dir(dir.path());
    assert!(!report.is_ok());
}

#[test]
fn a_wrong_runtime_path_is_an_error_not_a_panic() {
    // Whether or not a runtime is already loaded, a bogus or non-library path is an error.
    for path in [
        PathBuf::from("/nonexistent/libonnxruntime.so"),
        Path::new(TINY).join("tokenizer.json"),
    ] {
        let opts = RuntimeOptions {
            ort_path: Some(path.clone()),
            ..RuntimeOptions::default()
        };
        let err = Runtime::init(&opts).expect_err("not a runtime");
        let shown = path.canonicalize().unwrap_or(path);
        assert!(err.to_string().contains(&*shown.to_string_lossy()), "{err}");
    }
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn invalid_generation_settings_are_errors() {
    let model = tiny();
    for params in [
        GenerateParams {
            temperature: -1.0,
            ..GenerateParams::default()
        },
        GenerateParams {
            temperature: 1.0,
            top_p: 0.0,
            ..GenerateParams::default()
        },
    ] {
        let err = model
            .generate("x", &params, &CancelToken::new(), &mut |_| {})
            .expect_err("invalid");
        assert!(matches!(err, ModelError::InvalidParams(_)), "{err}");
    }
}

/// Golden greedy tokens of the built default model (fixtures/models/setup.sh), from onnxruntime
/// in Python.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn smollm2_golden_greedy_tokens_equal_the_reference() {
    let dir = default_model_dir(&spot_base::data_dir::resolve());
    let golden_path = dir.join("spot_golden.json");
    assert!(
        golden_path.is_file(),
        "the default model is not built ({} missing): run bash fixtures/models/setup.sh",
        golden_path.display()
    );
    let rt = runtime();
    let model = Model::load(&rt, &dir).expect("the default model loads");
    let golden = read_golden(&golden_path);
    for prompt in &golden.prompts {
        let ids = model
            .encode(&prompt.text, prompt.add_special_tokens)
            .expect("encodes");
        assert_eq!(ids, prompt.prompt_ids, "prompt ids of {:?}", prompt.text);
        let out = model
            .generate_ids(&ids, &greedy(prompt.max_new_tokens), &CancelToken::new())
            .expect("generates");
        assert_eq!(out, prompt.greedy_ids, "greedy ids of {:?}", prompt.text);
    }
}

const TINY_GENAI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/models/tiny-genai"
);

/// The same tiny checkpoint converted by onnxruntime-genai's builder (int4 MatMulNBits,
/// GroupQueryAttention, no position_ids): spot's loop gives onnxruntime-genai's own greedy ids.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn tiny_genai_graph_greedy_tokens_equal_onnxruntime_genai() {
    let rt = runtime();
    let model = Model::load(&rt, Path::new(TINY_GENAI)).expect("the tiny genai model loads");
    let info = model.info();
    assert!(!info.has_position_ids);
    assert_eq!(info.layers, 2);
    let golden = read_golden(&Path::new(TINY_GENAI).join("golden.json"));
    assert_eq!(info.eos_token_ids, golden.eos_token_ids);
    for prompt in &golden.prompts {
        let ids = model
            .encode(&prompt.text, prompt.add_special_tokens)
            .expect("encodes");
        assert_eq!(ids, prompt.prompt_ids, "prompt ids of {:?}", prompt.text);
        let out = model
            .generate_ids(&ids, &greedy(prompt.max_new_tokens), &CancelToken::new())
            .expect("generates");
        assert_eq!(out, prompt.greedy_ids, "greedy ids of {:?}", prompt.text);
    }
}

/// The genai graph takes its KV cache as one shared buffer per tensor (written in place), and
/// gives the same greedy ids and scores as when the cache is copied every step.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn shared_kv_buffer_gives_the_same_tokens_as_a_copied_cache() {
    let rt = runtime();
    let shared = Model::load(&rt, Path::new(TINY_GENAI)).expect("loads");
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(TINY_GENAI).unwrap().flatten() {
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    let config = copy.path().join("genai_config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("\"past_present_share_buffer\": true"),
        "{text}"
    );
    std::fs::write(
        &config,
        text.replace(
            "\"past_present_share_buffer\": true",
            "\"past_present_share_buffer\": false",
        ),
    )
    .unwrap();
    let copied = Model::load(&rt, copy.path()).expect("loads");
    let golden = read_golden(&Path::new(TINY_GENAI).join("golden.json"));
    let cancel = CancelToken::new();
    for prompt in &golden.prompts {
        let a = shared
            .generate_ids(&prompt.prompt_ids, &greedy(48), &cancel)
            .expect("generates");
        let b = copied
            .generate_ids(&prompt.prompt_ids, &greedy(48), &cancel)
            .expect("generates");
        assert_eq!(a, b, "greedy ids of {:?}", prompt.text);
        let sa =
            generate::score_ids(shared.onnx(), &prompt.prompt_ids, &a, &cancel).expect("scores");
        let sb =
            generate::score_ids(copied.onnx(), &prompt.prompt_ids, &a, &cancel).expect("scores");
        assert_eq!(sa.correct, sb.correct);
        assert!((sa.nll - sb.nll).abs() < 1e-3, "{sa:?} vs {sb:?}");
    }
    assert!(
        shared.info().shared_kv_buffer,
        "the genai graph took the shared buffer"
    );
    assert!(!copied.info().shared_kv_buffer);
}

/// Teacher-forced scoring agrees with generation: the model's own greedy continuation is its
/// argmax at every step, and is more likely than the same tokens in another order.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn score_agrees_with_greedy_generation() {
    let model = tiny();
    let golden = tiny_golden();
    let prompt = &golden.prompts[0];
    let greedy_ids = &prompt.greedy_ids;
    let cancel = CancelToken::new();
    let own =
        generate::score_ids(model.onnx(), &prompt.prompt_ids, greedy_ids, &cancel).expect("scores");
    assert_eq!(own.tokens, greedy_ids.len());
    assert_eq!(own.correct, own.tokens, "greedy tokens are the argmax");
    let mut shuffled = greedy_ids.clone();
    shuffled.reverse();
    shuffled.rotate_left(1);
    if shuffled != *greedy_ids {
        let other = generate::score_ids(model.onnx(), &prompt.prompt_ids, &shuffled, &cancel)
            .expect("scores");
        assert!(other.nll > own.nll, "{other:?} vs {own:?}");
        assert!(other.correct < other.tokens);
    }
    let too_long = vec![greedy_ids[0]; model.context_length()];
    assert!(matches!(
        generate::score_ids(model.onnx(), &prompt.prompt_ids, &too_long, &cancel),
        Err(ModelError::PromptTooLong { .. })
    ));
}

/// Scoring in one graph run over prompt and target gives what one decode step per target
/// token gives, on the optimum graph and on the genai graph (shared KV buffer).
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn one_pass_score_equals_the_stepwise_score() {
    let rt = runtime();
    let cancel = CancelToken::new();
    for dir in [TINY, TINY_GENAI] {
        let model = Model::load(&rt, Path::new(dir)).expect("loads");
        let golden = read_golden(&Path::new(dir).join("golden.json"));
        for prompt in &golden.prompts {
            let mut target = prompt.greedy_ids.clone();
            target.rotate_left(3);
            for t in [&target[..], &target[..1], &target[..0]] {
                let one = generate::score_ids(model.onnx(), &prompt.prompt_ids, t, &cancel)
                    .expect("scores");
                let steps =
                    generate::score_ids_stepwise(model.onnx(), &prompt.prompt_ids, t, &cancel)
                        .expect("scores");
                assert_eq!(one.tokens, t.len(), "{dir}");
                assert_eq!(one.tokens, steps.tokens, "{dir}");
                assert_eq!(one.correct, steps.correct, "{dir}: {one:?} vs {steps:?}");
                assert!(
                    (one.nll - steps.nll).abs() < 1e-3 * (1.0 + steps.nll),
                    "{dir}: {one:?} vs {steps:?}"
                );
            }
        }
    }
}

const TINY_GENAI_KEEP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/models/tiny-genai-keep"
);

/// The genai graph with its LM head sliced to the last `num_logits_to_keep` positions
/// (fixtures/models/keep_logits.py): spot feeds 1 to generate and the target's length to
/// score, and gets onnxruntime-genai's greedy ids and the full graph's scores.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn a_graph_that_keeps_the_last_logits_gives_the_same_tokens_and_scores() {
    let rt = runtime();
    let full = Model::load(&rt, Path::new(TINY_GENAI)).expect("loads");
    let keep = Model::load(&rt, Path::new(TINY_GENAI_KEEP)).expect("loads");
    assert!(keep.info().last_logits_only);
    assert!(!full.info().last_logits_only);
    let golden = read_golden(&Path::new(TINY_GENAI).join("golden.json"));
    let cancel = CancelToken::new();
    for prompt in &golden.prompts {
        let out = keep
            .generate_ids(&prompt.prompt_ids, &greedy(prompt.max_new_tokens), &cancel)
            .expect("generates");
        assert_eq!(out, prompt.greedy_ids, "greedy ids of {:?}", prompt.text);
        let mut target = prompt.greedy_ids.clone();
        target.rotate_left(2);
        let a =
            generate::score_ids(keep.onnx(), &prompt.prompt_ids, &target, &cancel).expect("scores");
        let b =
            generate::score_ids(full.onnx(), &prompt.prompt_ids, &target, &cancel).expect("scores");
        let c = generate::score_ids_stepwise(keep.onnx(), &prompt.prompt_ids, &target, &cancel)
            .expect("scores");
        assert_eq!((a.tokens, a.correct), (b.tokens, b.correct));
        assert!(
            (a.nll - b.nll).abs() < 1e-3 * (1.0 + b.nll),
            "{a:?} vs {b:?}"
        );
        assert!(
            (a.nll - c.nll).abs() < 1e-3 * (1.0 + c.nll),
            "{a:?} vs {c:?}"
        );
    }
}

/// Prompt lookup changes how many tokens a graph run checks, never which tokens come out. With
/// drafts known right, wrong from their third token on, or all wrong, every graph gives plain
/// greedy decoding's ids: the genai graphs (shared KV buffer, rejected positions written over;
/// all logits or the last ones kept) and the optimum export (copied cache, rejected positions
/// cut off).
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn checked_drafts_give_greedy_decodings_tokens() {
    let rt = runtime();
    let golden = read_golden(&Path::new(TINY_GENAI).join("golden.json"));
    for dir in [TINY_GENAI, TINY_GENAI_KEEP, TINY] {
        let model = Model::load(&rt, Path::new(dir)).expect("loads");
        for prompt in &golden.prompts {
            let params = |lookup| GenerateParams {
                max_new_tokens: 24,
                stop_on_eos: false,
                lookup,
                ..GenerateParams::default()
            };
            let cancel = CancelToken::new();
            let plain = model
                .generate_ids(&prompt.prompt_ids, &params(0), &cancel)
                .expect("generates");
            if dir != TINY {
                assert_eq!(plain, prompt.greedy_ids, "{dir}: {:?}", prompt.text);
            }
            let n = prompt.prompt_ids.len();
            let next = |history: &[u32], most: usize| -> Vec<u32> {
                let done = history.len() - n;
                plain[done.min(plain.len())..(done + most).min(plain.len())].to_vec()
            };
            let wrong = |id: u32| (id + 1) % 64;
            let mut right = |h: &[u32], most: usize, out: &mut Vec<u32>| *out = next(h, most);
            let mut third_wrong = |h: &[u32], most: usize, out: &mut Vec<u32>| {
                *out = next(h, most);
                if let Some(id) = out.get_mut(2) {
                    *id = wrong(*id);
                }
            };
            let mut all_wrong = |h: &[u32], most: usize, out: &mut Vec<u32>| {
                *out = next(h, most).into_iter().map(wrong).collect();
            };
            let drafters: [(&str, super::generate::Drafter<'_>); 3] = [
                ("right", &mut right),
                ("third wrong", &mut third_wrong),
                ("all wrong", &mut all_wrong),
            ];
            for (what, drafter) in drafters {
                let (ids, drafted, accepted) = generate::generate_ids_drafted(
                    model.onnx(),
                    &prompt.prompt_ids,
                    &params(8),
                    drafter,
                )
                .expect("generates");
                assert_eq!(ids, plain, "{dir}, drafts {what}: {:?}", prompt.text);
                assert!(drafted > 0, "{dir}, drafts {what}");
                match what {
                    "right" => assert_eq!(accepted, drafted, "{dir}"),
                    "third wrong" => assert!(accepted > 0 && accepted < drafted, "{dir}"),
                    _ => assert_eq!(accepted, 0, "{dir}"),
                }
            }
        }
    }
}

/// A graph that takes several new tokens only into an empty cache (fixtures/models/
/// make_no_drafts.py): the first run with drafts fails, prompt lookup is turned off for the
/// model, and that run and the rest decode one token per run with the same tokens.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn a_graph_that_refuses_drafts_decodes_one_token_per_run() {
    let rt = runtime();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/models/tiny-no-drafts"
    );
    let model = Model::load(&rt, Path::new(dir)).expect("loads");
    assert!(model
        .onnx()
        .lookup
        .load(std::sync::atomic::Ordering::Relaxed));
    // Drafts of up to 8 after 10 or more cached tokens: the graph's refusal is certain.
    let golden = tiny_golden();
    let prompts: Vec<_> = golden
        .prompts
        .iter()
        .filter(|p| p.prompt_ids.len() >= 10)
        .collect();
    assert!(prompts.len() >= 2);
    for prompt in prompts {
        let params = GenerateParams {
            max_new_tokens: 16,
            stop_on_eos: false,
            lookup: 8,
            ..GenerateParams::default()
        };
        let n = prompt.prompt_ids.len();
        let want = &prompt.greedy_ids;
        let mut right = |h: &[u32], most: usize, out: &mut Vec<u32>| {
            let done = h.len() - n;
            *out = want[done.min(want.len())..(done + most).min(want.len())].to_vec();
        };
        let (ids, drafted, accepted) =
            generate::generate_ids_drafted(model.onnx(), &prompt.prompt_ids, &params, &mut right)
                .expect("decodes one token per run after the refusal");
        assert_eq!(&ids, &want[..ids.len()], "{:?}", prompt.text);
        assert_eq!(ids.len(), 16);
        assert_eq!((drafted, accepted), (0, 0), "{:?}", prompt.text);
        assert!(!model
            .onnx()
            .lookup
            .load(std::sync::atomic::Ordering::Relaxed));
    }
}

/// Prompt lookup itself (drafts from the text so far) on real prompts, one of which quotes
/// itself as code edits do: the same tokens and text as without it.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn prompt_lookup_gives_the_same_text() {
    let rt = runtime();
    let golden = read_golden(&Path::new(TINY_GENAI).join("golden.json"));
    let cancel = CancelToken::new();
    let quoting = "def total(items):\n    return sum(i.price for i in items)\n\n\
                   def total(items):\n    return sum(i.price for i in items)\n\n\
                   def total(items):\n    return";
    for dir in [TINY_GENAI, TINY] {
        let model = Model::load(&rt, Path::new(dir)).expect("loads");
        let prompts = golden
            .prompts
            .iter()
            .map(|p| (p.text.as_str(), p.add_special_tokens))
            .chain([(quoting, true)]);
        for (text, add_special_tokens) in prompts {
            let params = |lookup| GenerateParams {
                max_new_tokens: 64,
                add_special_tokens,
                stop_on_eos: false,
                lookup,
                ..GenerateParams::default()
            };
            let plain = model
                .generate(text, &params(0), &cancel, &mut |_| {})
                .expect("generates");
            let looked = model
                .generate(text, &params(8), &cancel, &mut |_| {})
                .expect("generates");
            assert_eq!(looked.tokens, plain.tokens, "{dir}: {text:?}");
            assert_eq!(looked.text, plain.text);
            assert_eq!((plain.drafted, plain.accepted), (0, 0));
            assert!(looked.accepted <= looked.drafted);
        }
    }
}
