"""Shared test helpers: experience dirs, running the trainer as spot does (a child process whose
stdout is JSON events), and one trained tiny model reused by several tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_DIR = REPO / "fixtures" / "models" / "tiny"
TINY_BASE = f"tiny:{TINY_DIR}"
THREADS = "2"


def sample(unit: str, sid: str, user: str, answer: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages, "meta": {"unit": unit, "id": sid}}


TRAIN = [
    sample("masked_function", "calc.add", "Implement `add` in calc.py.", "def add(a, b):\n    return a + b"),
    sample("masked_function", "calc.sub", "Implement `subtract` in calc.py.",
           "def subtract(a, b):\n    return a - b"),
    sample("design_qa", "q1", "Where is Point defined?", "Point is defined in geometry.py."),
    sample("design_qa", "q2", "What does main do?", "main prints the sum of 1 and 2.",
           system="You answer questions about this repository."),
    sample("test_writing", "t1", "Write a test for add.", "def test_add():\n    assert add(1, 2) == 3"),
    sample("bug_replay", "b1", "Fix the bug in subtract: it adds.", "return a - b"),
]
HELDOUT = [
    sample("masked_function", "calc.add", "Implement `add` in calc.py.", "def add(a, b):\n    return a + b"),
    sample("design_qa", "q1", "Where is Point defined?", "Point is defined in geometry.py."),
]


def write_exp(path: Path, train: list[dict[str, Any]], heldout: list[dict[str, Any]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("heldout.jsonl", heldout)):
        (path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@dataclass
class Run:
    rc: int
    events: list[dict[str, Any]]
    stderr: str

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def one(self, kind: str, **match: Any) -> dict[str, Any]:
        found = [e for e in self.of(kind) if all(e.get(k) == v for k, v in match.items())]
        assert len(found) == 1, (kind, match, self.events, self.stderr[-3000:])
        return found[0]


def trainer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "spot_trainer", *args]


def parse_events(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object with an "event" key."""
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict) and "event" in event, line
        events.append(event)
    return events


def run_trainer(*args: str, timeout: float = 300) -> Run:
    proc = subprocess.run(trainer_cmd("train", *args), capture_output=True, text=True,
                          timeout=timeout, env=_env())
    return Run(proc.returncode, parse_events(proc.stdout), proc.stderr)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def leftovers(out: Path) -> list[Path]:
    """Temp or backup dirs a run may have left beside OUT_DIR."""
    return sorted(p for p in out.parent.glob(out.name + ".*"))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """A tiny model trained for 24 steps on TRAIN, evaluated on HELDOUT."""
    root = tmp_path_factory.mktemp("trained")
    exp = write_exp(root / "exp", TRAIN, HELDOUT)
    out = root / "out"
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(out),
                      "--epochs", "4", "--grad-accum", "1", "--lr", "3e-3",
                      "--threads", THREADS)
    assert run.rc == 0, run.stderr[-3000:]
    return out, run
