"""Builds a Qwen2.5-0.5B-shaped model with random weights for the decode benchmark (no download).

The architecture is Qwen2.5-0.5B's (Qwen2ForCausalLM: 24 layers, hidden 896, 14 query heads and
2 key/value heads, MLP 4864, vocabulary 151936, tied embeddings, rope_theta 1e6); the weights are
transformers' random initialization with a fixed seed, so the speed (which depends on shapes and
precision, not on the values) is that of the real model while nothing is fetched. The tokenizer is
SmolLM2's (49152 tokens < 151936; text is meaningless anyway, and the benchmark feeds the same
prompt ids to every engine and ignores end-of-sequence). Writes, under <data>/build/:
  qwen0.5b-random-hf/            HF checkpoint (safetensors, fp32) + SmolLM2 tokenizer files
  qwen0.5b-random-genai-fp32/    onnxruntime-genai builder, fp32
  qwen0.5b-random-genai-int4/    onnxruntime-genai builder, int4 (RTN, block 32, symmetric,
                                 accuracy_level 4: the builder's CPU defaults)
  qwen0.5b-random-f32.gguf       llama.cpp's convert_hf_to_gguf.py (make_gguf.py: from the llama-cpp-python
                                 sdist in the uv cache, or `pip download`ed once), f32
  qwen0.5b-random-q4_0.gguf      the f32 GGUF quantized by llama.cpp (llama_model_quantize
                                 through llama-cpp-python) to Q4_0 (block 32, symmetric int4)

Every step is skipped when its output exists (idempotent; --force redoes them). Run with the model
venv's python (torch, transformers); started by bench/decode/run.sh --model qwen0.5b-random:
  python build_qwen_random.py --data DATA --genai-python PY [--force]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import time
from pathlib import Path

# The onnxruntime-genai build step is the default model's (same builder call, same HF/tokenizer
# files copied next to the graph).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "fixtures" / "models"))
from build_default_model import genai_build  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_gguf import f32_gguf, quantized_gguf  # noqa: E402

NAME = "qwen0.5b-random"
SEED = 0
CONFIG = dict(
    architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=896,
    num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864,
    vocab_size=151936, max_position_embeddings=32768, max_window_layers=24, rope_theta=1e6,
    rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu", use_sliding_window=False,
    attention_dropout=0.0, initializer_range=0.02, torch_dtype="float32",
    # SmolLM2's tokenizer: <|im_start|> = 1, <|im_end|> = 2 (ignored by the benchmark).
    bos_token_id=1, eos_token_id=2, pad_token_id=2,
)
TOKENIZER_FROM = "smollm2-135m-instruct-hf"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja"]


def log(msg):
    print(f"[build_qwen_random] {msg}", file=sys.stderr, flush=True)


def hf_checkpoint(build: Path, out: Path):
    if (out / "config.json").exists() and list(out.glob("*.safetensors")):
        log(f"HF checkpoint exists: {out}")
        return
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    src = build / TOKENIZER_FROM
    if not (src / "tokenizer.json").exists():
        sys.exit(f"no tokenizer in {src}: run fixtures/models/setup.sh first")
    t = time.time()
    torch.manual_seed(SEED)
    config = Qwen2Config(**{k: v for k, v in CONFIG.items() if k not in ("architectures",
                                                                         "model_type")})
    config.architectures = CONFIG["architectures"]
    model = Qwen2ForCausalLM(config).eval()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2).save_pretrained(tmp)
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, tmp / name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    n = sum(p.numel() for p in model.parameters())
    log(f"random Qwen2 ({n / 1e6:.0f}M parameters, seed {SEED}) in {time.time() - t:.0f}s: {out}")


def gguf_build(hf_dir: Path, build: Path, genai_python: str):
    f32 = build / f"{NAME}-f32.gguf"
    q4 = build / f"{NAME}-q4_0.gguf"
    if f32.exists() and q4.exists():
        log(f"GGUFs exist: {f32}, {q4}")
        return
    if not f32.exists():
        f32_gguf(hf_dir, f32, genai_python)
    if not q4.exists():
        quantized_gguf(f32, q4, genai_python, "Q4_0")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = os.environ.get("SPOT_DATA_DIR") or str(
        Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "spot")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--genai-python", required=True,
                        help="python with onnxruntime-genai and llama-cpp-python")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    build = args.data.expanduser().resolve() / "build"
    hf_dir = build / f"{NAME}-hf"
    outs = [hf_dir, *(build / f"{NAME}-genai-{p}" for p in ("fp32", "int4"))]
    if args.force:
        for d in outs:
            shutil.rmtree(d, ignore_errors=True)
        for f in glob.glob(str(build / f"{NAME}-*.gguf")):
            os.remove(f)
    t = time.time()
    hf_checkpoint(build, hf_dir)
    for precision in ("fp32", "int4"):
        # extra=[]: the builder's CPU defaults (plain int4), as the benchmark documents.
        genai_build(hf_dir, build / f"{NAME}-genai-{precision}", precision, args.genai_python,
                    build / "genai-cache", extra=[])
    gguf_build(hf_dir, build, args.genai_python)
    log(f"done in {time.time() - t:.0f}s")


if __name__ == "__main__":
    main()
