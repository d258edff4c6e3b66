"""`spot-train train`: checks → load → evaluate → train → evaluate → export → verify → commit.

Cheap checks (base, data dir, output dir) run before torch is imported, so bad input fails in
about a second. Under `accelerate launch` every process trains; the main process alone
evaluates, exports and writes OUT_DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from spot_trainer import __version__
from spot_trainer.base import BaseSpec, previous_training, resolve_base
from spot_trainer.data import Dataset, Record, build_dataset, check_experience_dir, read_records
from spot_trainer.errors import DataError, TrainerError, UsageError
from spot_trainer.events import EventStream
from spot_trainer.outdir import StagedDir

log = logging.getLogger("spot_trainer")

DEFAULT_LR = {"full": 1e-4, "lora": 2e-4}
TINY_DEFAULT_LR = 1e-3
SUMMARY_FILE = "spot_training.json"
BARRIER_TIMEOUT_S = 4 * 3600
VERSIONED_PACKAGES = ("torch", "transformers", "optimum-onnx", "onnxruntime", "onnxruntime-genai",
                      "accelerate", "peft")


def run_train(args: argparse.Namespace, events: EventStream, staged: StagedDir,
              started: float) -> None:
    spec, data_dir, train_records, heldout_records = _check_inputs(args, staged)
    accelerator = _start_torch(args, events)

    from spot_trainer.base import eos_token_ids, load_base, pad_token_id
    from spot_trainer.training import apply_lora, total_steps, train

    log.info("loading %s (%s)", spec.path, spec.kind)
    model, tokenizer = load_base(spec, args.seed, args.max_seq_len)
    train_set = build_dataset(tokenizer, train_records, args.max_seq_len)
    heldout_set = build_dataset(tokenizer, heldout_records, args.max_seq_len)
    if not train_set.examples:
        raise DataError(f"no training sample fits in --max-seq-len {args.max_seq_len}: all "
                        f"{train_set.skipped} answers are longer")
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = pad_token_id(model, eos_ids)
    cfg = _train_config(args, spec)
    if cfg.method == "lora":
        model = apply_lora(model, cfg)
    model.to(accelerator.device)
    steps = total_steps(len(train_set.examples), cfg, accelerator.num_processes)
    events.emit("start", samples=len(train_set.examples), skipped=train_set.skipped,
                heldout=len(heldout_set.examples), heldout_skipped=heldout_set.skipped,
                steps=steps, method=cfg.method, device=str(accelerator.device),
                processes=accelerator.num_processes, lr=cfg.lr, base=spec.arg,
                threads=_torch_threads())
    if accelerator.is_main_process:
        staged.create()
    context = _Context(args, spec, data_dir, cfg, accelerator, events, tokenizer, eos_ids, pad_id,
                       train_set, heldout_set)
    before = context.evaluate(model, "before")
    accelerator.wait_for_everyone()
    log.info("training: %d samples, %d steps, %s on %s", len(train_set.examples), steps,
             cfg.method, accelerator.device)
    model, stats = train(model, train_set.examples, cfg, accelerator, events, pad_id)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # The other processes are done: no collective call follows, so none waits on the export.
        context.finish(model, stats, before, staged, started)


def _check_inputs(args: argparse.Namespace,
                  staged: StagedDir) -> tuple[BaseSpec, Path, list[Record], list[Record]]:
    """Everything that can be checked without torch: base, data, output dir."""
    spec = resolve_base(args.base)
    data_dir = args.data.expanduser().resolve()
    train_path, heldout_path = check_experience_dir(data_dir)
    staged.check()
    train_records, heldout_records = _read_split(train_path), _read_split(heldout_path)
    if not train_records:
        raise DataError(f"{train_path} has no samples")
    if not heldout_records:
        log.warning("%s has no samples: the held-out metrics will be empty", heldout_path)
    args.graph = _graph(args)
    return spec, data_dir, train_records, heldout_records


def _graph(args: argparse.Namespace) -> str:
    """The exporter: `genai` (onnxruntime-genai's builder), `optimum`, or `auto` (the builder,
    optimum's export where the builder cannot export or verify the model); int8 is optimum's."""
    if args.quantize == "none":
        return args.graph or "auto"
    if args.graph == "genai":
        raise UsageError("--graph genai writes fp32 graphs; --quantize int8 needs --graph optimum")
    return "optimum"


def _start_torch(args: argparse.Namespace, events: EventStream) -> Any:
    """Threads, device, seed; returns the Accelerator. Only the main process reports."""
    import torch
    from accelerate.utils import set_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    accelerator = _make_accelerator(args.device)
    events.enabled = accelerator.is_main_process
    if not accelerator.is_main_process:
        log.setLevel(logging.WARNING)
    set_seed(args.seed)
    return accelerator


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _read_split(path: Path) -> list[Record]:
    log.info("reading %s", path)
    return read_records(path)


def _make_accelerator(device: str) -> Any:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise TrainerError(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                           f"(built for CUDA {torch.version.cuda})")
    cpu = device == "cpu" or not has_cuda
    mixed = "bf16" if not cpu and torch.cuda.is_bf16_supported() else "no"
    # Under several processes the others wait while the main one evaluates: allow a long wait.
    timeout = InitProcessGroupKwargs(timeout=timedelta(seconds=BARRIER_TIMEOUT_S))
    return Accelerator(cpu=cpu, mixed_precision=mixed, kwargs_handlers=[timeout])


def _train_config(args: argparse.Namespace, spec: BaseSpec) -> Any:
    from spot_trainer.training import TrainConfig

    lr = args.lr
    if lr is None:
        lr = TINY_DEFAULT_LR if spec.kind == "tiny" and args.method == "full" else DEFAULT_LR[args.method]
    return TrainConfig(method=args.method, epochs=args.epochs, lr=lr, batch_size=args.batch_size,
                       grad_accum=args.grad_accum, max_steps=args.max_steps, seed=args.seed,
                       warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                       lora_r=args.lora_r, lora_alpha=args.lora_alpha,
                       lora_dropout=args.lora_dropout)


class _Context:
    """What the evaluation, export and summary steps share."""

    def __init__(self, args: argparse.Namespace, spec: BaseSpec, data_dir: Path, cfg: Any,
                 accelerator: Any, events: EventStream, tokenizer: Any, eos_ids: list[int],
                 pad_id: int, train_set: Dataset, heldout_set: Dataset) -> None:
        self.args, self.spec, self.data_dir, self.cfg = args, spec, data_dir, cfg
        self.accelerator, self.events, self.tokenizer = accelerator, events, tokenizer
        self.eos_ids, self.pad_id = eos_ids, pad_id
        self.train_set, self.heldout_set = train_set, heldout_set
        # The exporter that wrote the graph (`_export`).
        self.graph = ""

    def evaluate(self, model: Any, when: str) -> dict[str, Any]:
        """Held-out metrics on the main process (an eval event); {} on the others."""
        if not self.accelerator.is_main_process:
            return {}
        from spot_trainer.evaluation import evaluate

        started = time.monotonic()
        metrics = evaluate(model, self.tokenizer, self.heldout_set.examples, self.eos_ids,
                           self.pad_id, self.accelerator.device, self.args.batch_size,
                           generate=not self.args.no_generate_eval)
        metrics["eval_s"] = round(time.monotonic() - started, 2)
        self.events.emit("eval", split="heldout", when=when, **metrics)
        log.info("held-out %s: loss %s, exact match %s (n=%d)", when, metrics["loss"],
                 metrics["exact_match"], metrics["n"])
        return metrics

    def finish(self, model: Any, stats: Any, before: dict[str, Any], staged: StagedDir,
               started: float) -> None:
        """After-evaluation, export, verification, summary, atomic rename, done event."""
        from spot_trainer.training import merge_lora

        model = self.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
        if self.cfg.method == "lora":
            model = merge_lora(model)
        after = self.evaluate(model, "after")
        verify = self._export(model, staged.tmp)
        summary = self._summary(stats, before, after, verify, staged, started)
        (staged.tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        staged.commit()
        wall = round(time.monotonic() - started, 2)
        log.info("done: %s (%.1f s)", staged.out, wall)
        self.events.emit("done", out=str(staged.out), wall_s=wall, steps=stats.steps,
                         before=before, after=after)

    def _export(self, model: Any, tmp: Path) -> list[dict[str, Any]]:
        from spot_trainer.errors import ExportError
        from spot_trainer.export import (CHECKPOINT_DIR, export_genai, export_onnx, quantize_int8,
                                         remove_graph, save_checkpoint)

        log.info("saving the checkpoint")
        save_checkpoint(model, self.tokenizer, tmp / CHECKPOINT_DIR)
        prompt = self._verify_prompt()
        results: list[dict[str, Any]] = []
        if self.args.graph in ("genai", "auto"):
            self.events.emit("export", stage="onnx", graph="genai")
            log.info("exporting to ONNX with onnxruntime-genai's builder")
            try:
                export_genai(tmp / CHECKPOINT_DIR, tmp, self.tokenizer)
                results.append(self._verify(tmp, model, prompt, "fp32", strict=True))
                self.graph = "genai"
            except ExportError as err:
                if self.args.graph == "genai":
                    raise
                # An architecture the builder does not know: optimum exports most decoders.
                log.warning("%s; optimum exports the model instead (spot decodes its graph more "
                            "slowly)", err)
                remove_graph(tmp)
        if not results:
            self.events.emit("export", stage="onnx", graph="optimum")
            log.info("exporting to ONNX with optimum")
            export_onnx(tmp / CHECKPOINT_DIR, tmp, self.tokenizer)
            results.append(self._verify(tmp, model, prompt, "fp32", strict=True))
            self.graph = "optimum"
        if self.args.quantize == "int8":
            self.events.emit("export", stage="quantize", precision="int8")
            log.info("quantizing to int8")
            quantize_int8(tmp)
            results.append(self._verify(tmp, model, prompt, "int8", strict=False))
        return results

    def _verify(self, tmp: Path, model: Any, prompt: list[int], precision: str,
                strict: bool) -> dict[str, Any]:
        from spot_trainer.export import verify_export

        result = verify_export(tmp, model, prompt, strict=strict)
        result["precision"] = precision
        self.events.emit("export", stage="verify", **result)
        log.info("verified the %s export: first token %s (torch %s), max logit diff %s",
                 precision, result["first_token"], result["torch_first_token"],
                 result["max_logit_diff"])
        return result

    def _verify_prompt(self) -> list[int]:
        source = self.heldout_set.examples or self.train_set.examples
        return source[0].prompt_ids

    def _summary(self, stats: Any, before: dict[str, Any], after: dict[str, Any],
                 verify: list[dict[str, Any]], staged: StagedDir, started: float) -> dict[str, Any]:
        previous = previous_training(self.spec)
        return {
            "format": 1,
            "trainer": f"spot-trainer {__version__}",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "out": str(staged.out),
            "base": self.spec.describe(),
            "previous": None if previous is None else {
                k: previous.get(k) for k in ("base", "data", "created", "steps", "after")},
            "data": {
                "dir": str(self.data_dir),
                "train": _split_summary(self.data_dir / "train.jsonl", self.train_set),
                "heldout": _split_summary(self.data_dir / "heldout.jsonl", self.heldout_set),
            },
            "method": self.cfg.method,
            "hyperparameters": {
                "epochs": self.cfg.epochs, "lr": self.cfg.lr, "max_seq_len": self.args.max_seq_len,
                "batch_size": self.cfg.batch_size, "grad_accum": self.cfg.grad_accum,
                "max_steps": self.cfg.max_steps, "seed": self.cfg.seed,
                "warmup_ratio": self.cfg.warmup_ratio, "weight_decay": self.cfg.weight_decay,
                "max_grad_norm": self.cfg.max_grad_norm, "schedule": "warmup + cosine to 10%",
                **({"lora_r": self.cfg.lora_r, "lora_alpha": self.cfg.lora_alpha,
                    "lora_dropout": self.cfg.lora_dropout} if self.cfg.method == "lora" else {}),
            },
            "device": str(self.accelerator.device),
            "processes": self.accelerator.num_processes,
            "mixed_precision": self.accelerator.mixed_precision,
            "threads": _torch_threads(),
            "steps": stats.steps,
            "tokens_trained": stats.tokens,
            "final_train_loss": stats.final_loss,
            "train_s": round(stats.train_s, 2),
            "wall_s": round(time.monotonic() - started, 2),
            "before": before,
            "after": after,
            "export": {"graph": self.graph,
                       "quantize": self.args.quantize, "verify": verify},
            "versions": _versions(),
        }


def _split_summary(path: Path, dataset: Dataset) -> dict[str, Any]:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "records": dataset.records, "samples": len(dataset.examples),
            "skipped": dataset.skipped,
            "truncated": sum(ex.truncated for ex in dataset.examples)}


def _versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
