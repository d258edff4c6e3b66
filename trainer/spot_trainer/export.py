"""Writing spot's model directory: the HF checkpoint, the ONNX export, optional int8
quantization, and a verification of the exported graph against torch.

The directory (design.md §3): model.onnx [+ its external data], config.json,
generation_config.json, tokenizer.json, tokenizer_config.json, chat_template.jinja,
special_tokens_map.json, plus checkpoint/ (safetensors + tokenizer) so a later run can continue
from it. Two exporters write the graph:
- onnxruntime-genai's model builder (default, with optimum's export where the builder does not
  know the architecture or its graph fails verification; fused GroupQueryAttention, plus
  genai_config.json), the kind of graph the default model is: spot binds its KV cache in place
  and, after keep_logits.py's rewrite, computes the last position's logits only (pinned
  to 0.11.2, the last release whose builder imports with the transformers optimum-onnx allows);
- optimum's `text-generation-with-past` export (`--graph optimum`, and for `--quantize int8`).

Verification runs the loop spot runs (prefill, then one token a step with the KV cache fed back)
in onnxruntime and compares every step's logits with torch's on the same tokens: the first
greedy token must equal torch's argmax and the logits must agree, or the export is broken.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from spot_trainer.errors import ExportError
from spot_trainer.keep_logits import rewrite

log = logging.getLogger("spot_trainer")

CONTRACT_FILES = ("model.onnx", "config.json", "generation_config.json", "tokenizer.json",
                  "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
EXTERNAL_DATA = "model.onnx_data"
CHECKPOINT_DIR = "checkpoint"
VERIFY_STEPS = 4
VERIFY_MAX_PROMPT = 256
# Logit agreement for an fp32 graph: |onnx - torch| <= RTOL * max(1, max |torch logit|).
VERIFY_RTOL = 1e-2
INT8_EXTERNAL_DATA_ABOVE = 6_000_000_000
GENAI_CONFIG = "genai_config.json"
# The builder's time limit: a base, plus this much per GB of checkpoint weights.
BUILDER_TIMEOUT_S = 600
BUILDER_S_PER_GB = 300


def save_checkpoint(model: Any, tokenizer: Any, dest: Path) -> None:
    """HF safetensors + config + generation config + tokenizer (with its chat template)."""
    dest.mkdir(parents=True)
    model.save_pretrained(str(dest), safe_serialization=True)
    tokenizer.save_pretrained(str(dest))
    _ensure_chat_template(tokenizer, dest)


def _ensure_chat_template(tokenizer: Any, dest: Path) -> None:
    """spot reads chat_template.jinja first; write it when the tokenizer kept it elsewhere."""
    path = dest / "chat_template.jinja"
    if not path.is_file() and isinstance(tokenizer.chat_template, str):
        path.write_text(tokenizer.chat_template, encoding="utf-8")


def export_onnx(checkpoint: Path, out: Path, tokenizer: Any) -> None:
    """optimum's text-generation-with-past export of the checkpoint into `out`."""
    from optimum.exporters.onnx import main_export

    try:
        main_export(model_name_or_path=str(checkpoint), output=str(out),
                    task="text-generation-with-past", device="cpu", do_validation=False,
                    local_files_only=True)
    except Exception as err:
        raise ExportError(f"ONNX export failed: {type(err).__name__}: {err}") from err
    _ensure_chat_template(tokenizer, out)
    for name in ("generation_config.json", "special_tokens_map.json"):
        if not (out / name).is_file() and (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, out / name)
    check_contract(out)


def export_genai(checkpoint: Path, out: Path, tokenizer: Any) -> None:
    """onnxruntime-genai's fp32 graph of the checkpoint into `out`, with the last-logits-only
    LM head, the HF configs and the tokenizer files. Any failure is an ExportError, and leaves
    none of the builder's files in `out`."""
    build, cache = out / ".genai-build", out / ".genai-cache"
    # A child process, so that its copy of the weights is freed when it ends. It reads a local
    # checkpoint: no remote code.
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(checkpoint),
           "-o", str(build), "-p", "fp32", "-e", "cpu", "-c", str(cache),
           "--extra_options", "hf_remote=false"]
    weights = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    timeout = BUILDER_TIMEOUT_S + weights / 1e9 * BUILDER_S_PER_GB
    try:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise ExportError(f"onnxruntime-genai's builder ran over {timeout:.0f} s") from err
        for line in (done.stdout + done.stderr).splitlines():
            log.debug("builder: %s", line)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise ExportError(f"onnxruntime-genai's builder failed (exit {done.returncode}): "
                              f"{lines[-1] if lines else 'no output'}")
        for name in ("model.onnx", "model.onnx.data", GENAI_CONFIG):
            if (build / name).is_file():
                shutil.move(str(build / name), str(out / name))
        if not (out / "model.onnx").is_file() or not (out / GENAI_CONFIG).is_file():
            raise ExportError(f"onnxruntime-genai's builder did not write model.onnx or "
                              f"{GENAI_CONFIG}")
        # The HF configs and the tokenizer files as this transformers wrote them: the builder's
        # transformers may write a tokenizer_config.json other versions cannot read.
        for name in CONTRACT_FILES:
            if name != "model.onnx" and (checkpoint / name).is_file():
                shutil.copy2(checkpoint / name, out / name)
        try:
            rewrite(str(out))
        except Exception as err:  # a graph it cannot read or rewrite: optimum's export instead
            raise ExportError(f"cannot give the graph the last-logits head: {err}") from err
    except ExportError:
        remove_graph(out)
        raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    _ensure_chat_template(tokenizer, out)
    check_contract(out)


def remove_graph(out: Path) -> None:
    """Removes an export's graph files from `out` (the checkpoint and the rest stay)."""
    for name in ("model.onnx", "model.onnx.data", "model.onnx.tmp", EXTERNAL_DATA, GENAI_CONFIG):
        (out / name).unlink(missing_ok=True)


def check_contract(out: Path) -> None:
    missing = [name for name in CONTRACT_FILES if not (out / name).is_file()]
    if missing:
        raise ExportError(f"the export in {out} lacks {', '.join(missing)}")


def quantize_int8(out: Path) -> None:
    """Replaces model.onnx by its onnxruntime dynamic int8 quantization (int8 weights, one scale
    per output channel; activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, target = out / "model.onnx", out / "model.int8.onnx"
    fp32_bytes = sum(p.stat().st_size for p in (source, out / EXTERNAL_DATA) if p.is_file())
    # The int8 graph is ~1/4 of the fp32 one; past protobuf's 2 GiB it needs external data.
    large = fp32_bytes > INT8_EXTERNAL_DATA_ABOVE
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         use_external_data_format=large)
    except Exception as err:
        raise ExportError(f"int8 quantization failed: {type(err).__name__}: {err}") from err
    source.unlink()
    (out / EXTERNAL_DATA).unlink(missing_ok=True)
    if large:
        _resave_with_external_data(target, source)
    else:
        target.rename(source)


def _resave_with_external_data(model_path: Path, dest: Path) -> None:
    """Saves the graph as dest with its weights in model.onnx_data (the contract's name)."""
    import onnx

    model = onnx.load(str(model_path))
    onnx.save_model(model, str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=EXTERNAL_DATA)
    for leftover in model_path.parent.glob(model_path.name + "*"):
        leftover.unlink()


def onnx_greedy(session: Any, prompt_ids: list[int], steps: int,
                kv_shape: tuple[int, int]) -> tuple[list[int], list[np.ndarray]]:
    """spot's decode loop in onnxruntime: (greedy tokens, last-position logits of each step)."""
    inputs = {i.name: i for i in session.get_inputs()}
    past_names = sorted(n for n in inputs if n.startswith("past_key_values."))
    kv: dict[str, np.ndarray] = {}
    for name in past_names:
        shape = inputs[name].shape
        heads, head_dim = shape[1], shape[3]
        if not (isinstance(heads, int) and isinstance(head_dim, int)):
            heads, head_dim = kv_shape
        dtype = np.float16 if "float16" in inputs[name].type else np.float32
        kv[name] = np.zeros((1, heads, 0, head_dim), dtype=dtype)
    output_names = [o.name for o in session.get_outputs()]
    tokens: list[int] = []
    logits_per_step: list[np.ndarray] = []
    feed_ids, n_past = list(prompt_ids), 0
    for _ in range(steps):
        total = n_past + len(feed_ids)
        feed: dict[str, np.ndarray] = {"input_ids": np.array([feed_ids], dtype=np.int64)}
        if "attention_mask" in inputs:
            feed["attention_mask"] = np.ones((1, total), dtype=np.int64)
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(n_past, total, dtype=np.int64)[None, :]
        if "num_logits_to_keep" in inputs:
            feed["num_logits_to_keep"] = np.array([1], dtype=np.int64)
        feed.update(kv)
        results = dict(zip(output_names, session.run(None, feed), strict=True))
        logits = results["logits"][0, -1].astype(np.float32)
        logits_per_step.append(logits)
        tokens.append(int(np.argmax(logits)))
        for name in past_names:
            kv[name] = results[name.replace("past_key_values.", "present.")]
        n_past, feed_ids = total, [tokens[-1]]
    return tokens, logits_per_step


def torch_logits(model: Any, ids: list[int], positions: range) -> np.ndarray:
    """torch's logits at the given positions of one full forward pass (no cache)."""
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        tensor = torch.tensor([ids], dtype=torch.long, device=device)
        logits = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits
    return logits[0, positions.start:positions.stop].float().cpu().numpy()


def verify_export(out: Path, model: Any, prompt_ids: list[int], strict: bool) -> dict[str, Any]:
    """Greedy-decodes VERIFY_STEPS tokens with the KV cache in onnxruntime and compares with torch.

    strict (fp32): a different first token or logits beyond tolerance raise ExportError.
    Not strict (int8): the agreement is measured and reported, not enforced."""
    import onnxruntime as ort

    prompt = list(prompt_ids[-VERIFY_MAX_PROMPT:])
    try:
        session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        config = model.config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        tokens, onnx_logits = onnx_greedy(session, prompt, VERIFY_STEPS, (kv_heads, head_dim))
    except Exception as err:
        raise ExportError(f"the exported model does not run in onnxruntime: {err}") from err
    was_training = model.training
    model.eval()
    try:
        reference = torch_logits(model, prompt + tokens[:-1],
                                 range(len(prompt) - 1, len(prompt) - 1 + len(tokens)))
    finally:
        model.train(was_training)
    torch_first = int(np.argmax(reference[0]))
    scale = max(1.0, float(np.abs(reference).max()))
    max_diff = max(float(np.abs(o - r).max()) for o, r in zip(onnx_logits, reference, strict=True))
    agree = sum(int(np.argmax(r)) == t for r, t in zip(reference, tokens, strict=True))
    result = {"first_token": tokens[0], "torch_first_token": torch_first,
              "first_token_match": tokens[0] == torch_first, "tokens": tokens,
              "steps_agree": agree, "steps": len(tokens), "max_logit_diff": round(max_diff, 6),
              "prompt_tokens": len(prompt)}
    if strict and tokens[0] != torch_first:
        raise ExportError(f"export verification failed: onnxruntime's first greedy token is "
                          f"{tokens[0]}, torch's is {torch_first}")
    if strict and max_diff > VERIFY_RTOL * scale:
        raise ExportError(f"export verification failed: logits differ from torch by {max_diff:.4g} "
                          f"(tolerance {VERIFY_RTOL * scale:.4g}) in the KV-cached decode")
    if not result["first_token_match"]:
        log.warning("the quantized model's first greedy token differs from torch's (%d vs %d)",
                    tokens[0], torch_first)
    return result
