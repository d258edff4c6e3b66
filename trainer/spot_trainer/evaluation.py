"""Held-out evaluation: mean assistant-token loss, and exact match of greedy generation on
`masked_function` samples (the re-implemented function must come out verbatim, stripped).

Generation runs up to the answer's token count + 16 new tokens and stops at an eos id; the text
before the first eos, decoded without special tokens and stripped, is compared with the stripped
answer content.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from spot_trainer.data import Example
from spot_trainer.training import collate, loss_sum

log = logging.getLogger("spot_trainer")

EXACT_MATCH_UNIT = "masked_function"
EXTRA_NEW_TOKENS = 16


@torch.no_grad()
def mean_loss(model: Any, examples: list[Example], pad_id: int, device: torch.device,
              batch_size: int) -> tuple[float | None, int]:
    """Token-weighted mean loss over the answers' tokens, and the token count."""
    total, tokens = 0.0, 0
    for i in range(0, len(examples), batch_size):
        summed, n = loss_sum(model, collate(examples[i:i + batch_size], pad_id, device))
        total += summed.item()
        tokens += n
    return (total / tokens if tokens else None), tokens


@torch.no_grad()
def greedy(model: Any, prompt_ids: list[int], max_new_tokens: int, eos_ids: list[int],
           pad_id: int, device: torch.device) -> list[int]:
    """Greedy continuation of the prompt, cut before the first eos."""
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                         max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                         temperature=None, top_p=None, top_k=None,
                         eos_token_id=eos_ids, pad_token_id=pad_id)
    new = out[0, len(prompt_ids):].tolist()
    for i, token in enumerate(new):
        if token in eos_ids:
            return new[:i]
    return new


def exact_match(model: Any, tokenizer: Any, examples: list[Example], eos_ids: list[int],
                pad_id: int, device: torch.device) -> tuple[float | None, int]:
    """Fraction of masked_function examples whose greedy answer equals the reference."""
    cases = [ex for ex in examples if ex.unit == EXACT_MATCH_UNIT]
    hits = 0
    for ex in cases:
        new = greedy(model, ex.prompt_ids, ex.answer_len + EXTRA_NEW_TOKENS, eos_ids, pad_id, device)
        text = tokenizer.decode(new, skip_special_tokens=True)
        hit = text.strip() == ex.answer_text.strip()
        hits += hit
        log.debug("exact match %s: %s", ex.id, hit)
    return (hits / len(cases) if cases else None), len(cases)


def evaluate(model: Any, tokenizer: Any, examples: list[Example], eos_ids: list[int],
             pad_id: int, device: torch.device, batch_size: int,
             generate: bool = True) -> dict[str, Any]:
    """The held-out metrics as they appear in events and spot_training.json."""
    was_training = model.training
    model.eval()
    try:
        loss, tokens = mean_loss(model, examples, pad_id, device, batch_size)
        em, n_exact = (exact_match(model, tokenizer, examples, eos_ids, pad_id, device)
                       if generate else (None, 0))
    finally:
        model.train(was_training)
    return {
        "loss": None if loss is None else round(loss, 6),
        "perplexity": None if loss is None else round(math.exp(min(loss, 50.0)), 4),
        "exact_match": em,
        "n": len(examples),
        "n_exact": n_exact,
        "tokens": tokens,
    }
