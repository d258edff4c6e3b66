"""The training loop: full fine-tuning or LoRA, on one device or under `accelerate launch`.

Loss: mean cross-entropy over the assistant tokens of an optimizer step (all its micro-batches
together), so a long answer weighs more than a short one, the same in every batch layout.
Schedule: linear warm-up, then cosine decay to 10% of --lr. Gradients are clipped to norm 1.
Under several processes each takes its share of every epoch's micro-batches (DDP averages the
gradients); events come from the main process only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from spot_trainer.data import IGNORE_INDEX, Example
from spot_trainer.errors import TrainerError
from spot_trainer.events import EventStream

log = logging.getLogger("spot_trainer")

MIN_LR_RATIO = 0.1
STEP_EVENT_INTERVAL_S = 1.0  # step events: every step, but at most one per interval (and the last)


@dataclass(frozen=True)
class TrainConfig:
    method: str  # "full" or "lora"
    epochs: int
    lr: float
    batch_size: int
    grad_accum: int
    max_steps: int | None
    seed: int
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05


@dataclass
class TrainStats:
    steps: int
    tokens: int
    final_loss: float | None
    train_s: float


def total_steps(n_examples: int, cfg: TrainConfig, num_processes: int = 1) -> int:
    """Optimizer steps: per epoch ceil(micro-batches per process / grad_accum), capped by --max-steps."""
    micro = math.ceil(math.ceil(n_examples / cfg.batch_size) / num_processes)
    steps = math.ceil(micro / cfg.grad_accum) * cfg.epochs
    return min(steps, cfg.max_steps) if cfg.max_steps is not None else steps


def step_groups(examples: list[Example], cfg: TrainConfig, num_processes: int,
                process_index: int) -> Iterator[list[list[Example]]]:
    """Each optimizer step's micro-batches for this process, epoch after epoch (reshuffled),
    repeating epochs when --max-steps asks for more steps than --epochs gives."""
    rng = random.Random(cfg.seed)
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        micro = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        per_process = math.ceil(len(micro) / num_processes)
        padded = [micro[i % len(micro)] for i in range(per_process * num_processes)]
        mine = padded[process_index::num_processes]
        for i in range(0, len(mine), cfg.grad_accum):
            yield [[examples[j] for j in batch] for batch in mine[i:i + cfg.grad_accum]]


def collate(batch: list[Example], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding has attention 0 and label -100."""
    width = max(len(ex.input_ids) for ex in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex.input_ids)
        ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled positions, and their count."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    shifted = logits[:, :-1, :].float()
    total = F.cross_entropy(shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    return total, int((targets != IGNORE_INDEX).sum().item())


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Multiplier of --lr at optimizer step `step` (0-based): warm-up, then cosine to 10%."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * progress))


def apply_lora(model: Any, cfg: TrainConfig) -> Any:
    """Wraps the model with LoRA adapters on every linear layer (not the LM head)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                        target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("LoRA r=%d alpha=%d: %d trainable parameters of %d", cfg.lora_r, cfg.lora_alpha,
             trainable, total)
    return model


def merge_lora(model: Any) -> Any:
    """The plain model with the adapters folded into its weights."""
    return model.merge_and_unload()


class _Progress:
    """Step events with a running ETA, throttled to one per STEP_EVENT_INTERVAL_S."""

    def __init__(self, events: EventStream, total: int) -> None:
        self.events, self.total = events, total
        self.start = time.monotonic()
        self.last_emit = -math.inf

    def step(self, step: int, loss: float, lr: float) -> None:
        now = time.monotonic()
        if step < self.total and now - self.last_emit < STEP_EVENT_INTERVAL_S and step > 1:
            return
        self.last_emit = now
        per_step = (now - self.start) / step
        self.events.emit("step", step=step, total=self.total, loss=round(loss, 6), lr=lr,
                         eta_s=round(per_step * (self.total - step), 1),
                         step_s=round(per_step, 3))


def train(model: Any, examples: list[Example], cfg: TrainConfig, accelerator: Any,
          events: EventStream, pad_id: int) -> tuple[Any, TrainStats]:
    """Runs the optimizer steps; returns the (accelerate-wrapped) model and what happened."""
    total = total_steps(len(examples), cfg, accelerator.num_processes)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = int(round(cfg.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warmup))
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    progress = _Progress(events, total)
    groups = step_groups(examples, cfg, accelerator.num_processes, accelerator.process_index)
    tokens_seen, loss_value = 0, None
    for step in range(1, total + 1):
        lr = scheduler.get_last_lr()[0]
        loss_value, tokens = _optimizer_step(model, next(groups), accelerator, optimizer, cfg, pad_id)
        scheduler.step()
        tokens_seen += tokens
        progress.step(step, loss_value, lr)
    stats = TrainStats(steps=total, tokens=tokens_seen, final_loss=loss_value,
                       train_s=time.monotonic() - progress.start)
    return model, stats


def _optimizer_step(model: Any, group: list[list[Example]], accelerator: Any, optimizer: Any,
                    cfg: TrainConfig, pad_id: int) -> tuple[float, int]:
    """Forward/backward over the step's micro-batches, then one optimizer update."""
    tokens = sum(ex.target_tokens for batch in group for ex in batch)
    if tokens == 0:
        raise TrainerError("a training step has no assistant tokens to learn from")
    step_loss = 0.0
    for k, batch in enumerate(group):
        last = k == len(group) - 1
        sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
        with sync:
            summed, _ = loss_sum(model, collate(batch, pad_id, accelerator.device))
            loss = summed / tokens
            accelerator.backward(loss)
        step_loss += loss.item()
    if not math.isfinite(step_loss):
        raise TrainerError(f"training diverged: the loss is {step_loss} (try a lower --lr)")
    if cfg.max_grad_norm > 0:
        accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_loss, tokens
