"""Experience data: reading `train.jsonl` / `heldout.jsonl` and turning records into examples.

A record is one JSON object per line:
    {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "meta": {"unit": "design_qa"|"masked_function"|"bug_replay"|"test_writing", "id": str, ...}}

An example is the conversation rendered with the tokenizer's chat template and tokenized segment
by segment, so that exactly the assistant turns (their content, end-of-turn token and the
template's text after it) carry labels; everything else is -100. The last assistant turn is "the
answer": when the example is longer than --max-seq-len, tokens are dropped from the left of the
prompt, never from the answer, and an example whose answer alone does not fit is skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spot_trainer.errors import DataError

log = logging.getLogger("spot_trainer")

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
UNITS = ("design_qa", "masked_function", "bug_replay", "test_writing")
TRAIN_FILE = "train.jsonl"
HELDOUT_FILE = "heldout.jsonl"


@dataclass(frozen=True)
class Record:
    """One validated line of an experience file."""

    messages: list[dict[str, str]]
    unit: str
    id: str
    source: str  # "file:line", for error messages


@dataclass
class Example:
    """A tokenized record. `labels[i]` is the target of position i (the model shifts)."""

    input_ids: list[int]
    labels: list[int]
    answer_start: int  # index of the first token of the last assistant turn
    answer_text: str  # content of the last assistant turn
    unit: str
    id: str
    truncated: bool = False

    @property
    def prompt_ids(self) -> list[int]:
        return self.input_ids[: self.answer_start]

    @property
    def answer_len(self) -> int:
        return len(self.input_ids) - self.answer_start

    @property
    def target_tokens(self) -> int:
        return sum(1 for t in self.labels[1:] if t != IGNORE_INDEX)


@dataclass
class Dataset:
    """Examples of one split and how many records were skipped because the answer was too long."""

    examples: list[Example] = field(default_factory=list)
    skipped: int = 0
    records: int = 0


class ChatTokenizer(Protocol):
    """The part of a transformers tokenizer used here."""

    chat_template: Any

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


def check_experience_dir(exp_dir: Path) -> tuple[Path, Path]:
    """The two files of an experience directory; raises DataError naming what is missing."""
    if not exp_dir.exists():
        raise DataError(f"data dir {exp_dir} does not exist")
    if not exp_dir.is_dir():
        raise DataError(f"data dir {exp_dir} is not a directory")
    paths = (exp_dir / TRAIN_FILE, exp_dir / HELDOUT_FILE)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"data dir {exp_dir} has no {' and no '.join(missing)} "
            f"(expected {TRAIN_FILE} and {HELDOUT_FILE}, as `spot experience` writes them)"
        )
    return paths


def read_records(path: Path) -> list[Record]:
    """Reads and validates every line of a JSONL file (blank lines are allowed)."""
    records = []
    unknown_units: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg})") from None
            record = _validate_record(obj, where)
            if record.unit not in UNITS:
                unknown_units.add(record.unit)
            records.append(record)
    if unknown_units:
        log.warning("%s: unknown units %s (trained like the others)", path, sorted(unknown_units))
    return records


def _validate_record(obj: Any, where: str) -> Record:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: \"messages\" must be a non-empty list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise DataError(f"{where}: messages[{i}] is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise DataError(f"{where}: messages[{i}].role is {role!r}; expected one of {ROLES}")
        if not isinstance(content, str):
            raise DataError(f"{where}: messages[{i}].content must be a string")
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's answer")
    meta = obj.get("meta")
    if not isinstance(meta, dict):
        raise DataError(f"{where}: \"meta\" must be an object with \"unit\" and \"id\"")
    unit, rid = meta.get("unit"), meta.get("id")
    if not isinstance(unit, str) or not unit:
        raise DataError(f"{where}: meta.unit must be a non-empty string")
    if not isinstance(rid, (str, int)):
        raise DataError(f"{where}: meta.id must be a string")
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    return Record(messages=clean, unit=unit, id=str(rid), source=where)


def render(tokenizer: ChatTokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    """The chat template's text for these messages."""
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )
    if not isinstance(text, str):
        raise DataError("the chat template did not render to a string")
    return text


def _segments(tokenizer: ChatTokenizer, record: Record) -> list[tuple[str, bool]]:
    """The rendered conversation cut into (text, is_assistant_answer) pieces.

    Relies on the template being prefix-stable (rendering more messages only appends text),
    which ChatML and the common templates are; otherwise the assistant tokens cannot be found."""
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, message in enumerate(record.messages):
        if message["role"] == "assistant":
            with_header = render(tokenizer, record.messages[:i], generation_prompt=True)
            _check_prefix(done, with_header, record)
            pieces.append((with_header[len(done):], False))
            done = with_header
            full = render(tokenizer, record.messages[: i + 1], generation_prompt=False)
            _check_prefix(done, full, record)
            pieces.append((full[len(done):], True))
        else:
            full = render(tokenizer, record.messages[: i + 1], generation_prompt=False)
            _check_prefix(done, full, record)
            pieces.append((full[len(done):], False))
        done = full
    return pieces


def _check_prefix(before: str, after: str, record: Record) -> None:
    if not after.startswith(before):
        raise DataError(
            f"{record.source}: the chat template is not prefix-stable (rendering one more message "
            "changes the earlier text), so the assistant tokens cannot be located"
        )


def tokenize_record(tokenizer: ChatTokenizer, record: Record, max_seq_len: int) -> Example | None:
    """Tokenizes a record with assistant-only labels; None when its answer does not fit."""
    input_ids: list[int] = []
    labels: list[int] = []
    answer_start = 0
    for text, is_answer in _segments(tokenizer, record):
        if is_answer:
            answer_start = len(input_ids)
        ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        input_ids.extend(ids)
        labels.extend(ids if is_answer else [IGNORE_INDEX] * len(ids))
    answer_len = len(input_ids) - answer_start
    if answer_len == 0:
        raise DataError(f"{record.source}: the assistant answer renders to no tokens")
    if answer_len >= max_seq_len:
        return None
    truncated = len(input_ids) > max_seq_len
    if truncated:
        drop = len(input_ids) - max_seq_len
        input_ids, labels, answer_start = input_ids[drop:], labels[drop:], answer_start - drop
    return Example(
        input_ids=input_ids,
        labels=labels,
        answer_start=answer_start,
        answer_text=record.messages[-1]["content"],
        unit=record.unit,
        id=record.id,
        truncated=truncated,
    )


def build_dataset(tokenizer: ChatTokenizer, records: list[Record], max_seq_len: int) -> Dataset:
    """Tokenizes every record, counting those skipped because the answer alone is too long."""
    dataset = Dataset(records=len(records))
    for record in records:
        example = tokenize_record(tokenizer, record, max_seq_len)
        if example is None:
            dataset.skipped += 1
            log.warning("%s: skipped, its answer alone is longer than --max-seq-len %d",
                        record.source, max_seq_len)
        else:
            dataset.examples.append(example)
    return dataset
