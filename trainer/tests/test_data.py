"""Unit tests: record validation, assistant-only labels, truncation, the step plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_DIR, sample

from spot_trainer.base import load_tokenizer
from spot_trainer.data import (IGNORE_INDEX, Record, build_dataset, check_experience_dir,
                               read_records, tokenize_record)
from spot_trainer.errors import DataError


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY_DIR, "tiny")


def record(messages: list[dict[str, str]], unit: str = "design_qa") -> Record:
    return Record(messages=messages, unit=unit, id="x", source="test:1")


def labelled_text(tokenizer, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX])


def test_labels_cover_exactly_the_answer(tokenizer):
    rec = record(sample("masked_function", "a", "Implement add.", "def add(a, b):\n    return a + b")
                 ["messages"])
    ex = tokenize_record(tokenizer, rec, 1024)
    assert labelled_text(tokenizer, ex.input_ids, ex.labels) == (
        "def add(a, b):\n    return a + b<|im_end|>\n")
    assert all(label == IGNORE_INDEX for label in ex.labels[: ex.answer_start])
    assert ex.labels[ex.answer_start:] == ex.input_ids[ex.answer_start:]


def test_prompt_is_what_inference_sees(tokenizer):
    """The prompt tokens equal the tokenized generation prompt spot renders at inference."""
    messages = sample("design_qa", "a", "Where?", "Here.", system="Be brief.")["messages"]
    ex = tokenize_record(tokenizer, record(messages), 1024)
    rendered = tokenizer.apply_chat_template(messages[:-1], tokenize=False,
                                             add_generation_prompt=True)
    assert ex.prompt_ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    assert ex.input_ids == tokenizer(full, add_special_tokens=False)["input_ids"]


def test_every_assistant_turn_is_labelled(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Add?"}, {"role": "assistant", "content": "a + b"}]
    ex = tokenize_record(tokenizer, record(messages), 1024)
    assert labelled_text(tokenizer, ex.input_ids, ex.labels) == (
        "Hello.<|im_end|>\na + b<|im_end|>\n")
    assert ex.answer_text == "a + b"


def test_long_prompt_is_cut_on_the_left(tokenizer):
    messages = [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}]
    ex = tokenize_record(tokenizer, record(messages), 64)
    assert len(ex.input_ids) == 64 and ex.truncated
    assert tokenizer.decode(ex.input_ids[ex.answer_start:]) == "ok<|im_end|>\n"


def test_answer_longer_than_max_seq_len_is_skipped(tokenizer):
    long_answer = {"role": "assistant", "content": "x = 1\n" * 100}
    records = [record([{"role": "user", "content": "q"}, long_answer]),
               record([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])]
    dataset = build_dataset(tokenizer, records, 64)
    assert dataset.skipped == 1 and len(dataset.examples) == 1


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('{"messages": [], "meta": {"unit": "design_qa", "id": "1"}}', "non-empty list"),
    ('{"messages": [{"role": "bot", "content": "x"}], "meta": {"unit": "u", "id": "1"}}', "role"),
    ('{"messages": [{"role": "user", "content": "x"}], "meta": {"unit": "u", "id": "1"}}',
     "last message must be the assistant"),
    ('{"messages": [{"role": "assistant", "content": "x"}]}', "meta"),
])
def test_invalid_records_name_the_line(tmp_path: Path, line: str, message: str):
    good = json.dumps(sample("design_qa", "1", "q", "a"))
    path = tmp_path / "train.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_records(path)
    assert f"{path}:2:" in str(err.value)


def test_experience_dir_needs_both_files(tmp_path: Path):
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(DataError, match="heldout.jsonl"):
        check_experience_dir(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        check_experience_dir(tmp_path / "nope")


def test_step_plan_and_schedule():
    from spot_trainer.training import TrainConfig, lr_factor, step_groups, total_steps

    cfg = TrainConfig(method="full", epochs=2, lr=1e-3, batch_size=2, grad_accum=2,
                      max_steps=None, seed=0)
    assert total_steps(10, cfg) == 6  # 5 micro-batches -> 3 steps an epoch
    assert total_steps(10, cfg, num_processes=2) == 4
    assert total_steps(10, TrainConfig(**{**cfg.__dict__, "max_steps": 5})) == 5
    groups = step_groups(list(range(10)), cfg, 1, 0)  # type: ignore[arg-type]
    first_epoch = [next(groups) for _ in range(3)]
    assert sorted(x for g in first_epoch for b in g for x in b) == list(range(10))
    factors = [lr_factor(s, 100, 5) for s in range(100)]
    assert factors[0] < factors[4] < factors[5] == 1.0
    assert factors[-1] >= 0.1 and factors[50] < 1.0


def test_base_forms(tmp_path: Path):
    from spot_trainer.base import resolve_base
    from spot_trainer.errors import BaseModelError

    assert resolve_base(f"tiny:{TINY_DIR}").kind == "tiny"
    out = tmp_path / "out"
    (out / "checkpoint").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (out / "checkpoint" / name).write_text("{}")
    (out / "spot_training.json").write_text("{}")
    for arg in (str(out), str(out / "checkpoint")):
        spec = resolve_base(arg)
        assert (spec.kind, spec.path) == ("trainer", out.resolve() / "checkpoint")
    (out / "checkpoint" / "model.safetensors").unlink()
    with pytest.raises(BaseModelError, match="no weights"):
        resolve_base(str(out))
    with pytest.raises(BaseModelError, match="ONNX model dir without HF weights"):
        resolve_base(str(TINY_DIR))
    with pytest.raises(BaseModelError, match="does not exist"):
        resolve_base(str(tmp_path / "nope"))
