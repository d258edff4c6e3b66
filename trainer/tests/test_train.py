"""End-to-end: the trainer run as spot runs it (a child process, JSON events on stdout) on the
tiny from-scratch model, on CPU."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (HELDOUT, THREADS, TINY_BASE, TRAIN, Run, leftovers, parse_events,
                      run_trainer, sample, trainer_cmd, write_exp)

from spot_trainer.export import CONTRACT_FILES, onnx_greedy

# ---------------------------------------------------------------- one trained model, many checks


def test_heldout_loss_goes_down(trained):
    _, run = trained
    before = run.one("eval", when="before")
    after = run.one("eval", when="after")
    assert after["loss"] < before["loss"]
    assert before["n"] == after["n"] == len(HELDOUT)
    assert before["n_exact"] == 1 and before["exact_match"] in (0.0, 1.0)


def test_event_stream(trained):
    out, run = trained
    kinds = [e["event"] for e in run.events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    start = run.events[0]
    assert start["samples"] == len(TRAIN) and start["heldout"] == len(HELDOUT)
    assert start["steps"] == 24 and start["method"] == "full" and start["device"] == "cpu"
    steps = run.of("step")
    assert steps[0]["step"] == 1 and steps[-1]["step"] == steps[-1]["total"] == 24
    assert all({"loss", "lr", "eta_s"} <= e.keys() for e in steps)
    assert [e["stage"] for e in run.of("export")] == ["onnx", "verify"]
    assert run.one("export", stage="onnx")["graph"] == "genai"
    done = run.events[-1]
    assert done["out"] == str(out) and done["wall_s"] > 0
    assert done["before"]["loss"] == run.one("eval", when="before")["loss"]
    assert done["after"]["loss"] == run.one("eval", when="after")["loss"]


def test_output_dir_contract(trained):
    out, _ = trained
    for name in CONTRACT_FILES:
        assert (out / name).is_file(), name
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (out / "checkpoint" / name).is_file(), name
    assert leftovers(out) == []
    assert not (out / ".genai-build").exists() and not (out / ".genai-cache").exists()


def test_graph_is_onnxruntime_genais_with_last_logits_only(trained):
    """The default model's kind of graph: the builder's fused attention, genai_config.json,
    and the LM head on the positions num_logits_to_keep asks for (keep_logits.py)."""
    import onnx

    out, _ = trained
    config = json.loads((out / "genai_config.json").read_text())
    assert config["search"]["past_present_share_buffer"] is True
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    assert "num_logits_to_keep" in [i.name for i in graph.input]
    assert "GroupQueryAttention" in {n.op_type for n in graph.node}


def test_summary_file(trained):
    out, run = trained
    summary = json.loads((out / "spot_training.json").read_text())
    assert summary["base"]["kind"] == "tiny" and summary["method"] == "full"
    assert summary["steps"] == 24 and summary["hyperparameters"]["lr"] == 3e-3
    assert summary["before"]["loss"] > summary["after"]["loss"]
    assert summary["data"]["train"]["samples"] == len(TRAIN)
    assert summary["export"]["verify"][0]["first_token_match"] is True
    assert summary["export"]["graph"] == "genai"
    assert summary["wall_s"] > 0


def test_onnx_first_greedy_token_matches_torch(trained):
    """Independent of the trainer's own verification: onnxruntime with the KV cache vs
    transformers on the saved checkpoint."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out / "checkpoint").eval()
    prompt = tokenizer.apply_chat_template(HELDOUT[0]["messages"][:-1], tokenize=False,
                                           add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    tokens, logits = onnx_greedy(session, ids, 3, (2, 16))
    with torch.no_grad():
        reference = model(torch.tensor([ids + tokens[:-1]])).logits[0].numpy()
    assert tokens[0] == int(np.argmax(reference[len(ids) - 1]))
    for k, step_logits in enumerate(logits):
        np.testing.assert_allclose(step_logits, reference[len(ids) - 1 + k], atol=1e-3)


def test_verification_catches_a_wrong_graph(trained, tmp_path: Path):
    """verify_export fails when the graph and the torch model disagree."""
    import torch
    from transformers import AutoModelForCausalLM

    from spot_trainer.errors import ExportError
    from spot_trainer.export import verify_export

    out, _ = trained
    model = AutoModelForCausalLM.from_pretrained(out / "checkpoint").eval()
    prompt = [1, 100, 200, 300, 2, 1]
    verify_export(out, model, prompt, strict=True)
    with torch.no_grad():
        for p in model.model.layers[1].mlp.parameters():
            p.mul_(-3.0)
    with pytest.raises(ExportError, match="verification failed"):
        verify_export(out, model, prompt, strict=True)


# ---------------------------------------------------------------- continued learning, LoRA, int8


def test_continue_from_output_with_lora_and_int8(trained, tmp_path: Path):
    first_out, first = trained
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    run = run_trainer("--base", str(first_out), "--data", str(exp), "--out", str(out),
                      "--method", "lora", "--lora-r", "4", "--lora-alpha", "8", "--max-steps", "3",
                      "--quantize", "int8", "--no-generate-eval", "--threads", THREADS)
    assert run.rc == 0, run.stderr[-3000:]
    # The base is the first run's trained checkpoint: the same held-out loss before training.
    assert run.one("eval", when="before")["loss"] == pytest.approx(
        first.one("eval", when="after")["loss"], abs=1e-4)
    assert run.one("start")["method"] == "lora" and run.one("start")["steps"] == 3
    assert [e.get("precision") for e in run.of("export") if e["stage"] == "verify"] == ["fp32", "int8"]
    assert run.one("export", stage="quantize")
    summary = json.loads((out / "spot_training.json").read_text())
    assert summary["base"]["kind"] == "trainer" and summary["previous"]["steps"] == 24
    assert summary["hyperparameters"]["lora_r"] == 4
    for name in CONTRACT_FILES:
        assert (out / name).is_file(), name
    assert not (out / "model.int8.onnx").exists()
    # int8 is optimum's graph (onnxruntime's quantizer), a quarter of the fp32 weights.
    assert summary["export"]["graph"] == "optimum" and not (out / "genai_config.json").exists()
    assert graph_bytes(out) < graph_bytes(first_out) / 2
    # The merged checkpoint is a plain model (no adapter files) that can be trained again.
    assert (out / "checkpoint" / "model.safetensors").is_file()
    assert not (out / "checkpoint" / "adapter_config.json").exists()


# ---------------------------------------------------------------- memorization


def test_tiny_model_memorizes(tmp_path: Path):
    """Three samples, many epochs: greedy generation reproduces each answer exactly, in the
    trainer's evaluation and in onnxruntime from the exported directory."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    answers = {"add": "def add(a, b):\n    return a + b", "sub": "def sub(a, b):\n    return a - b",
               "mul": "def mul(a, b):\n    return a * b"}
    rows = [sample("masked_function", k, f"Implement {k}.", v) for k, v in answers.items()]
    exp = write_exp(tmp_path / "exp", rows, rows)
    out = tmp_path / "out"
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(out), "--epochs", "40",
                      "--grad-accum", "1", "--lr", "1e-2", "--threads", THREADS)
    assert run.rc == 0, run.stderr[-3000:]
    assert run.one("eval", when="before")["exact_match"] == 0.0
    assert run.one("eval", when="after")["exact_match"] == 1.0

    tokenizer = AutoTokenizer.from_pretrained(out)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    eos = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["messages"][:-1], tokenize=False,
                                               add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tokens, _ = onnx_greedy(session, ids, 24, (2, 16))
        assert eos in tokens
        text = tokenizer.decode(tokens[: tokens.index(eos)], skip_special_tokens=True)
        assert text == row["messages"][-1]["content"]


# ---------------------------------------------------------------- failures


def graph_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.glob("model.onnx*"))


def assert_error(run: Run, rc: int, text: str) -> None:
    assert run.rc == rc, (run.rc, run.events, run.stderr[-2000:])
    assert run.events and run.events[-1]["event"] == "error", run.events
    assert text in run.events[-1]["message"], run.events[-1]


def test_missing_data_dir(tmp_path: Path):
    run = run_trainer("--base", TINY_BASE, "--data", str(tmp_path / "nope"),
                      "--out", str(tmp_path / "out"))
    assert_error(run, 1, "does not exist")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path / "out") == []


def test_bad_data(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    (exp / "train.jsonl").write_text((exp / "train.jsonl").read_text() + "{broken\n")
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(tmp_path / "out"))
    assert_error(run, 1, f"train.jsonl:{len(TRAIN) + 1}: not valid JSON")

    (exp / "train.jsonl").write_text("\n")
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(tmp_path / "out"))
    assert_error(run, 1, "has no samples")


def test_bad_base(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    run = run_trainer("--base", str(tmp_path / "nomodel"), "--data", str(exp),
                      "--out", str(tmp_path / "out"))
    assert_error(run, 1, "does not exist")


def test_existing_output_is_refused(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("mine")
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(out))
    assert_error(run, 1, "--force")
    assert (out / "keep").read_text() == "mine" and leftovers(out) == []


def test_bad_arguments(tmp_path: Path):
    run = run_trainer("--base", TINY_BASE, "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                      "--epochs", "0")
    assert_error(run, 2, "--epochs")


def test_an_architecture_the_builder_does_not_know_gets_optimums_graph(tmp_path: Path):
    """GPT-2 is not among onnxruntime-genai's builder's architectures: the run still ends with
    a verified graph, optimum's, and says why."""
    import shutil

    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from conftest import TINY_DIR

    base = tmp_path / "gpt2"
    tokenizer = AutoTokenizer.from_pretrained(TINY_DIR)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2,
                        n_head=2, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    shutil.copy2(TINY_DIR / "chat_template.jinja", base / "chat_template.jinja")
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    run = run_trainer("--base", str(base), "--data", str(exp), "--out", str(out),
                      "--max-steps", "2", "--max-seq-len", "256", "--no-generate-eval",
                      "--threads", THREADS)
    assert run.rc == 0, run.stderr[-3000:]
    assert [(e["stage"], e.get("graph")) for e in run.of("export")] == [
        ("onnx", "genai"), ("onnx", "optimum"), ("verify", None)]
    assert "optimum exports the model instead" in run.stderr
    summary = json.loads((out / "spot_training.json").read_text())
    assert summary["export"]["graph"] == "optimum"
    assert summary["export"]["verify"][0]["first_token_match"] is True
    assert not (out / "genai_config.json").exists() and not (out / "model.onnx.data").exists()
    assert not (out / ".genai-build").exists() and not (out / ".genai-cache").exists()
    assert leftovers(out) == []
    # Asked for the builder's graph by name, the run fails instead, and writes nothing.
    strict = tmp_path / "strict"
    run = run_trainer("--base", str(base), "--data", str(exp), "--out", str(strict),
                      "--graph", "genai", "--max-steps", "1", "--max-seq-len", "256",
                      "--no-generate-eval", "--threads", THREADS)
    assert_error(run, 1, "onnxruntime-genai's builder failed")
    assert not strict.exists() and leftovers(strict) == []


# The builder's export of the run below, made wrong after the fact (one MLP weight scaled by -3)
# in a child process that otherwise runs the trainer as spot does: a stand-in for a builder that
# mis-exports an architecture it accepts.
WRONG_BUILDER = """
import sys
from pathlib import Path

import onnx
from onnx import numpy_helper

import spot_trainer.export as export

real = export.export_genai


def wrong(checkpoint, out, tokenizer):
    real(checkpoint, out, tokenizer)
    graph = Path(out) / "model.onnx"
    model = onnx.load(str(graph))
    weights = [t for t in model.graph.initializer if "mlp" in t.name and t.dims and len(t.dims) == 2]
    weights[-1].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights[-1]) * -3.0,
                                                 weights[-1].name))
    for f in Path(out).glob("model.onnx*"):
        f.unlink()
    onnx.save_model(model, str(graph), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data")


export.export_genai = wrong
from spot_trainer.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_a_builder_graph_that_fails_verification_gets_optimums_graph(tmp_path: Path):
    """The builder exports the model but its graph disagrees with torch: with --graph auto the
    run falls back to optimum's export, verifies that one, and says why."""
    import sys

    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", WRONG_BUILDER, "train", "--base", TINY_BASE, "--data", str(exp),
         "--out", str(out), "--max-steps", "2", "--no-generate-eval", "--threads", THREADS],
        capture_output=True, text=True, timeout=300)
    run = Run(proc.returncode, parse_events(proc.stdout), proc.stderr)
    assert run.rc == 0, run.stderr[-3000:]
    assert [(e["stage"], e.get("graph")) for e in run.of("export")] == [
        ("onnx", "genai"), ("onnx", "optimum"), ("verify", None)]
    assert "export verification failed" in run.stderr
    assert "optimum exports the model instead" in run.stderr
    summary = json.loads((out / "spot_training.json").read_text())
    assert summary["export"]["graph"] == "optimum"
    assert summary["export"]["verify"][0]["first_token_match"] is True
    assert not (out / "genai_config.json").exists() and not (out / "model.onnx.data").exists()
    assert leftovers(out) == []


def test_graph_optimum_on_request(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(out), "--graph",
                      "optimum", "--max-steps", "2", "--no-generate-eval", "--threads", THREADS)
    assert run.rc == 0, run.stderr[-3000:]
    assert [(e["stage"], e.get("graph")) for e in run.of("export")] == [
        ("onnx", "optimum"), ("verify", None)]
    summary = json.loads((out / "spot_training.json").read_text())
    assert summary["export"]["graph"] == "optimum"
    assert not (out / "genai_config.json").exists()


def test_genai_graph_cannot_be_int8(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    run = run_trainer("--base", TINY_BASE, "--data", str(exp), "--out", str(tmp_path / "out"),
                      "--graph", "genai", "--quantize", "int8")
    assert_error(run, 2, "--graph optimum")
    assert not (tmp_path / "out").exists()


def test_sigterm_cancels_cleanly(tmp_path: Path):
    exp = write_exp(tmp_path / "exp", TRAIN, HELDOUT)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        trainer_cmd("train", "--base", TINY_BASE, "--data", str(exp), "--out", str(out),
                    "--epochs", "1000", "--threads", THREADS),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if json.loads(line)["event"] == "step":
            break
        assert time.monotonic() < deadline
    assert any(f".tmp-{proc.pid}" in p.name for p in leftovers(out)), "the temp dir exists"
    proc.send_signal(signal.SIGTERM)
    rest, stderr = proc.communicate(timeout=60)
    events = parse_events("".join(lines) + rest)
    assert proc.returncode == 130, stderr[-2000:]
    assert events[-1] == {"event": "error", "message": "cancelled"}
    assert not out.exists() and leftovers(out) == []
