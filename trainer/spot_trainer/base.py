"""The --base model: an HF checkpoint dir, a previous trainer OUT_DIR, or `tiny:<MODEL_DIR>`.

`resolve_base` only looks at files (cheap, before torch is imported), so a bad base fails fast;
`load_base` loads the model and tokenizer.

`tiny:<MODEL_DIR>` is a from-scratch 2-layer Llama (hidden 64, 4 query / 2 KV heads, tied
embeddings, seeded) with MODEL_DIR's tokenizer, special tokens and chat template — the shape of
fixtures/models/make_tiny.py's model, for CPU tests and CI.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot_trainer.errors import BaseModelError

log = logging.getLogger("spot_trainer")

TINY_PREFIX = "tiny:"
CHECKPOINT_DIR = "checkpoint"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Context length of the tiny model: long enough for any --max-seq-len used on CPU.
TINY_MIN_CONTEXT = 2048


@dataclass(frozen=True)
class BaseSpec:
    """Where the base model comes from."""

    kind: str  # "hf", "trainer" (a previous OUT_DIR) or "tiny"
    path: Path  # the HF checkpoint dir, or for "tiny" the tokenizer's model dir
    arg: str  # --base as given

    def describe(self) -> dict[str, Any]:
        return {"arg": self.arg, "kind": self.kind, "path": str(self.path)}


def resolve_base(arg: str) -> BaseSpec:
    """Checks the --base argument against the files on disk."""
    if arg.startswith(TINY_PREFIX):
        path = Path(arg[len(TINY_PREFIX):]).expanduser().resolve()
        _require_dir(path, "tiny: tokenizer dir")
        if not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise BaseModelError(f"--base {arg}: {path} has no tokenizer.json or tokenizer_config.json")
        return BaseSpec("tiny", path, arg)
    path = Path(arg).expanduser().resolve()
    _require_dir(path, "base model dir")
    if (path / CHECKPOINT_DIR / "config.json").is_file():
        _check_hf_dir(path / CHECKPOINT_DIR, arg)
        return BaseSpec("trainer", path / CHECKPOINT_DIR, arg)
    if (path / "config.json").is_file() and _has_weights(path):
        _check_hf_dir(path, arg)
        # OUT_DIR/checkpoint given directly is a trainer output too (its history is recorded).
        from_trainer = path.name == CHECKPOINT_DIR and (path.parent / "spot_training.json").is_file()
        return BaseSpec("trainer" if from_trainer else "hf", path, arg)
    if (path / "model.onnx").is_file() or (path / "genai_config.json").is_file():
        raise BaseModelError(
            f"--base {arg} is an ONNX model dir without HF weights; training needs an HF "
            f"checkpoint (config.json + safetensors) or a trainer output with {CHECKPOINT_DIR}/"
        )
    _check_hf_dir(path, arg)
    return BaseSpec("hf", path, arg)


def _require_dir(path: Path, what: str) -> None:
    if not path.exists():
        raise BaseModelError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise BaseModelError(f"{what} {path} is not a directory")


def _has_weights(path: Path) -> bool:
    return any((path / name).is_file() for name in WEIGHT_FILES)


def _check_hf_dir(path: Path, arg: str) -> None:
    if not (path / "config.json").is_file():
        raise BaseModelError(f"--base {arg}: {path} has no config.json (not an HF checkpoint)")
    if not _has_weights(path):
        raise BaseModelError(f"--base {arg}: {path} has no weights ({' or '.join(WEIGHT_FILES)})")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise BaseModelError(f"--base {arg}: {path} has no tokenizer.json or tokenizer_config.json")


def previous_training(spec: BaseSpec) -> dict[str, Any] | None:
    """The spot_training.json of a previous trainer run used as base, if any."""
    if spec.kind != "trainer":
        return None
    path = spec.path.parent / "spot_training.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        log.warning("cannot read %s: %s", path, err)
        return None


def load_tokenizer(path: Path, arg: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as err:  # transformers raises many types for a broken tokenizer
        raise BaseModelError(f"--base {arg}: cannot load the tokenizer from {path}: {err}") from err
    if not tokenizer.chat_template:
        raise BaseModelError(
            f"--base {arg}: the tokenizer in {path} has no chat template "
            "(chat_template.jinja or tokenizer_config.json \"chat_template\")"
        )
    return tokenizer


def load_base(spec: BaseSpec, seed: int, max_seq_len: int) -> tuple[Any, Any]:
    """(model in fp32 on the CPU, tokenizer)."""
    tokenizer = load_tokenizer(spec.path, spec.arg)
    if spec.kind == "tiny":
        return build_tiny(spec.path, tokenizer, seed, max_seq_len), tokenizer
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(str(spec.path), dtype=torch.float32)
    except Exception as err:
        raise BaseModelError(f"--base {spec.arg}: cannot load the model from {spec.path}: {err}") from err
    context = getattr(model.config, "max_position_embeddings", None)
    if isinstance(context, int) and max_seq_len > context:
        raise BaseModelError(
            f"--max-seq-len {max_seq_len} is longer than the model's context ({context} tokens)"
        )
    return model, tokenizer


def _special_ids(model_dir: Path, tokenizer: Any) -> tuple[int | None, list[int], int]:
    """(bos, eos ids, pad) from MODEL_DIR's generation_config.json / config.json, else the tokenizer."""
    configs = []
    for name in ("generation_config.json", "config.json"):
        path = model_dir / name
        if path.is_file():
            configs.append(json.loads(path.read_text(encoding="utf-8")))

    def first(key: str) -> Any:
        return next((c[key] for c in configs if c.get(key) is not None), None)

    eos = first("eos_token_id")
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise BaseModelError(f"tiny:{model_dir}: no eos token id in its configs or tokenizer")
    eos_ids = eos if isinstance(eos, list) else [eos]
    bos = first("bos_token_id")
    bos = tokenizer.bos_token_id if bos is None else bos
    pad = first("pad_token_id")
    pad = tokenizer.pad_token_id if pad is None else pad
    return bos, eos_ids, eos_ids[0] if pad is None else pad


def build_tiny(model_dir: Path, tokenizer: Any, seed: int, max_seq_len: int) -> Any:
    """A seeded from-scratch 2-layer Llama with the tokenizer's vocabulary and special ids."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    bos, eos_ids, pad = _special_ids(model_dir, tokenizer)
    context = max(TINY_MIN_CONTEXT, max_seq_len)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=bos,
        eos_token_id=eos_ids[0] if len(eos_ids) == 1 else eos_ids,
        pad_token_id=pad,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=bos, eos_token_id=config.eos_token_id, pad_token_id=pad
    )
    tokenizer.model_max_length = context
    log.info("tiny model: %d parameters, vocabulary %d, context %d",
             sum(p.numel() for p in model.parameters()), config.vocab_size, context)
    return model


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The stop ids spot uses: generation_config, then config, then the tokenizer."""
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if value is not None:
            return list(value) if isinstance(value, (list, tuple)) else [int(value)]
    if tokenizer.eos_token_id is not None:
        return [int(tokenizer.eos_token_id)]
    raise BaseModelError("the base model defines no eos token id")


def pad_token_id(model: Any, eos_ids: list[int]) -> int:
    pad = getattr(model.config, "pad_token_id", None)
    return int(pad) if pad is not None else eos_ids[0]
