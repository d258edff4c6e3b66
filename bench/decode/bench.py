"""Decode benchmark: spot vs onnxruntime-genai vs llama.cpp on SmolLM2-135M-Instruct, same run.

Each engine runs in its own child process (peak RSS per engine, from GNU time), on the same
prompt token ids (the chat-rendered prompt, tokenized once by transformers: onnxruntime-genai's
own tokenizer mishandles this GGUF-converted tokenizer.json), greedy, a fixed number of new
tokens (end-of-sequence ignored); the best of --repeat runs is kept. Prints decode tokens/s, prefill tokens/s, time to first token
and peak RSS, with ratios spot/anchor. Started by bench/decode/run.sh, which builds what it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROMPT = "Write a Python function that adds two numbers."


TIME = "/usr/bin/time"


def run_child(cmd: list[str]) -> tuple[dict, float]:
    """Runs `cmd` under GNU time, returns (the JSON line it printed, peak RSS in MB).

    GNU time measures its own child; a child forked straight from this (large) python process
    would report the parent's RSS as its own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *cmd] if Path(TIME).exists() else cmd
        proc = subprocess.run(wrapped, capture_output=True, text=True)
        rss_kb = float(rss_file.read_text().split()[-1]) if rss_file.exists() else float("nan")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    for line in reversed((proc.stdout + "\n" + proc.stderr).splitlines()):
        line = line.strip()
        if line.startswith("{") and "decode_tokens_per_s" in line:
            data = json.loads(line)
            data.setdefault("text", proc.stdout)
            return data, rss_kb / 1024.0
    raise RuntimeError(f"no JSON stats from {cmd}:\n{proc.stdout[-1000:]}\n{proc.stderr[-1000:]}")


def best(runs: list[tuple[dict, float]]) -> dict:
    stats = max(runs, key=lambda r: r[0]["decode_tokens_per_s"])[0].copy()
    stats["prefill_tokens_per_s"] = max(r[0]["prefill_tokens_per_s"] for r in runs)
    stats["first_token_s"] = min(r[0]["first_token_s"] for r in runs)
    stats["peak_rss_mb"] = min(r[1] for r in runs)
    return stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spot", type=Path, required=True, help="the spot binary (release build)")
    p.add_argument("--spot-model", action="append", default=[], metavar="LABEL=DIR",
                   help="a model dir spot runs (repeatable)")
    p.add_argument("--genai-model", action="append", default=[], metavar="LABEL=DIR")
    p.add_argument("--gguf", type=Path, help="the GGUF llama.cpp runs")
    p.add_argument("--bench-python", default=sys.executable,
                   help="python with onnxruntime-genai and llama-cpp-python")
    p.add_argument("--prompt-text", help="the prompt, already rendered (default: the chat "
                   "template applied to a coding request)")
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()

    first_model = (args.spot_model + args.genai_model)[0].split("=", 1)[1]
    from transformers import AutoTokenizer  # the model venv's (reads the HF tokenizer files)

    tok = AutoTokenizer.from_pretrained(first_model)
    prompt = args.prompt_text or tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    prompt_ids = json.dumps(tok(prompt, add_special_tokens=False)["input_ids"])

    def with_text(stats: dict) -> dict:
        if "ids" in stats:
            stats["text"] = tok.decode(stats.pop("ids"), skip_special_tokens=True)
        return stats

    results = []
    for label_dir in args.spot_model:
        label, model_dir = label_dir.split("=", 1)
        cmd = [str(args.spot), "generate", "--model", model_dir, "--provider", "cpu",
               "--max-tokens", str(args.new_tokens), "--ignore-eos", "--stats=json", "--", prompt]
        # The prompt is already rendered: spot must not add special tokens (no --chat) — and the
        # SmolLM2 tokenizer adds none, so plain mode gives the same ids.
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results.append({"engine": "spot", "model": label, **best(runs)})
        print(f"spot {label}: {results[-1]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)
    for label_dir in args.genai_model:
        label, model_dir = label_dir.split("=", 1)
        cmd = [args.bench_python, str(HERE / "engine_genai.py"), model_dir, prompt_ids,
               str(args.new_tokens)]
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results.append({"engine": "onnxruntime-genai", "model": label, **with_text(best(runs))})
        print(f"genai {label}: {results[-1]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)
        # spot on the very same graph: compares the generation loops alone.
        cmd = [str(args.spot), "generate", "--model", model_dir, "--provider", "cpu",
               "--max-tokens", str(args.new_tokens), "--ignore-eos", "--stats=json", "--", prompt]
        try:
            runs = [run_child(cmd) for _ in range(args.repeat)]
            results.append({"engine": "spot", "model": f"{label} (genai graph)", **best(runs)})
        except RuntimeError as e:
            print(f"spot on the genai graph failed: {e}", file=sys.stderr)
    if args.gguf:
        cmd = [args.bench_python, str(HERE / "engine_llama.py"), str(args.gguf), prompt_ids,
               str(args.new_tokens)]
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results.append({"engine": "llama.cpp", "model": "Q4_1 gguf", **with_text(best(runs))})

    print(f"\nSmolLM2-135M-Instruct, greedy, {args.new_tokens} new tokens, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs\n")
    head = f"{'engine':<18} {'model':<26} {'decode tok/s':>12} {'prefill tok/s':>13} " \
           f"{'TTFT ms':>8} {'peak RSS MB':>11}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['engine']:<18} {r['model']:<26} {r['decode_tokens_per_s']:>12.1f} "
              f"{r['prefill_tokens_per_s']:>13.0f} {r['first_token_s'] * 1e3:>8.1f} "
              f"{r['peak_rss_mb']:>11.0f}")
    anchors = [r for r in results if r["engine"] != "spot"]
    spots = [r for r in results if r["engine"] == "spot"]
    if anchors and spots:
        print("\nratios spot / anchor (decode, prefill, 1/TTFT; >1 means spot is faster)")
        for s in spots:
            for a in anchors:
                print(f"  spot {s['model']:<24} vs {a['engine']} {a['model']:<14}: "
                      f"decode {s['decode_tokens_per_s'] / a['decode_tokens_per_s']:.2f}x, "
                      f"prefill {s['prefill_tokens_per_s'] / a['prefill_tokens_per_s']:.2f}x, "
                      f"TTFT {a['first_token_s'] / s['first_token_s']:.2f}x")
    print("\nfirst 60 characters of each output:")
    for r in results:
        print(f"  {r['engine']} {r['model']}: {r['text'][:60]!r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
