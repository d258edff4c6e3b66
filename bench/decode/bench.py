"""Decode benchmark: spot vs onnxruntime-genai vs llama.cpp on the same model, same run.

Each engine runs in its own child process (peak RSS per engine, from GNU time), on the same
prompt token ids (the chat-rendered prompt, tokenized once by transformers: onnxruntime-genai's
own tokenizer mishandles this GGUF-converted tokenizer.json), greedy, a fixed number of new
tokens (end-of-sequence ignored); the best of --repeat runs is kept. Prints decode tokens/s,
prefill tokens/s, time to first token and peak RSS, with ratios spot/anchor. Started by
bench/decode/run.sh, which builds what it needs.

Memory-bandwidth bound (decode on CPU reads every weight once per token): the machine's read
bandwidth is measured in the same run (a sum over a 1 GiB int64 array, one thread and one per CPU,
best of 5, the higher kept); bytes read per decoded token = the weights a token reads (every
initializer of the ONNX graph, or every tensor of the GGUF, at its stored size; an embedding table
used only by a Gather counts one row) + the KV cache read at the mean decode position (2 x layers x
kv heads x head dim x (prompt + new/2) x the cache's element size: the graph's past_key_values
type for ONNX, f16 for llama.cpp). bound tok/s = bandwidth / bytes per token; each engine's decode speed is printed as a
fraction of it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP_LOGITS = HERE.parent.parent / "fixtures" / "models" / "keep_logits.py"
PROMPT = "Write a Python function that adds two numbers."


TIME = "/usr/bin/time"


def run_child(cmd: list[str]) -> tuple[dict, float]:
    """Runs `cmd` under GNU time, returns (the JSON line it printed, peak RSS in MB).

    GNU time measures its own child; a child forked straight from this (large) python process
    would report the parent's RSS as its own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *cmd] if Path(TIME).exists() else cmd
        proc = subprocess.run(wrapped, check=False, capture_output=True, text=True)
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


def read_bandwidth(gib: int = 1, tries: int = 5) -> tuple[float, str]:
    """Memory read bandwidth in bytes/s: the best sum over a `gib` GiB int64 array (far larger
    than any cache), single-threaded and with one thread per CPU (numpy releases the GIL)."""
    import numpy as np

    a = np.ones(gib * 2**27, dtype=np.int64)
    threads = os.cpu_count() or 1
    parts = np.array_split(a, threads)

    def parallel():
        ts = [threading.Thread(target=p.sum) for p in parts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    best_bw, how = 0.0, ""
    for label, f in [("1 thread", a.sum), (f"{threads} threads", parallel)]:
        for _ in range(tries):
            t0 = time.perf_counter()
            f()
            bw = a.nbytes / (time.perf_counter() - t0)
            if bw > best_bw:
                best_bw, how = bw, label
    parts.clear()  # views of `a`: released with it
    del a
    return best_bw, f"numpy int64 sum over {gib} GiB, best of {tries}, {how}"


ONNX_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2,
              21: 0.5, 22: 0.5}  # onnx.TensorProto data types (21/22: uint4/int4)


def onnx_weight_bytes(model_dir: Path) -> tuple[float, float]:
    """Bytes of weights one decoded token reads from an ONNX model dir's graph, and the size of
    one element of its KV cache."""
    import onnx

    name = "model.onnx"
    cfg = model_dir / "genai_config.json"
    if cfg.exists():
        name = json.loads(cfg.read_text())["model"]["decoder"].get("filename", name)
    graph = onnx.load(str(model_dir / name), load_external_data=False).graph
    consumers: dict[str, set[str]] = {}
    for node in graph.node:
        for i, inp in enumerate(node.input):
            consumers.setdefault(inp, set()).add(node.op_type if i == 0 else "other")
    total = 0.0
    for init in graph.initializer:
        size = ONNX_BYTES.get(init.data_type, 4)
        for d in init.dims:
            size *= d
        ops = consumers.get(init.name, set())
        if ops and ops <= {"Gather", "GatherBlockQuantized"} and init.dims:
            size /= init.dims[0]  # an embedding table: one row per token
        total += size
    kv = [i.type.tensor_type.elem_type for i in graph.input if i.name.startswith("past_key")]
    return total, ONNX_BYTES.get(kv[0], 4) if kv else 4


def gguf_weight_bytes(path: Path) -> float:
    from gguf import GGUFReader

    tensors = {t.name: t for t in GGUFReader(str(path)).tensors}
    total = 0.0
    for name, t in tensors.items():
        size = float(t.n_bytes)
        if name == "token_embd.weight" and "output.weight" in tensors:
            size /= int(t.shape[-1])  # untied: the embedding table is read one row per token
        total += size
    return total


def kv_bytes_per_token(config: dict, position: float, elem: int) -> float:
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * position \
        * elem


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
    p.add_argument("--gguf", action="append", default=[], metavar="LABEL=FILE",
                   help="a GGUF llama.cpp runs (repeatable)")
    p.add_argument("--keep-dir", type=Path, help="also run spot on each genai graph with its LM "
                   "head on the last position only (fixtures/models/keep_logits.py), made here")
    p.add_argument("--title", default="SmolLM2-135M-Instruct")
    p.add_argument("--bench-python", default=sys.executable,
                   help="python with onnxruntime-genai and llama-cpp-python")
    p.add_argument("--prompt-text", help="the prompt, already rendered (default: the chat "
                   "template applied to a coding request)")
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--lookup", type=int, default=0, metavar="N",
                   help="also run each --spot-model and --gguf with prompt lookup (N draft "
                   "tokens; spot's --lookup, llama-cpp-python's LlamaPromptLookupDecoding); "
                   "the other rows decode one token per run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    bandwidth, bandwidth_how = read_bandwidth()
    print(f"memory read bandwidth: {bandwidth / 1e9:.1f} GB/s ({bandwidth_how})", file=sys.stderr)

    first_model = (args.spot_model + args.genai_model)[0].split("=", 1)[1]
    # The model venv's transformers (reads the HF tokenizer files).
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(first_model)
    prompt = args.prompt_text or tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    prompt_ids = json.dumps(ids)
    # spot's plain mode (no --chat) encodes with the tokenizer's special tokens: where that adds a
    # leading BOS the rendered prompt already starts with (SmolLM2's <|im_start|>), hand spot the
    # prompt without it, so that spot runs on exactly `ids` too (checked on its reported count).
    spot_prompt = prompt
    with_special = tok(prompt, add_special_tokens=True)["input_ids"]
    extra = len(with_special) - len(ids)
    if extra > 0 and with_special[extra:] == ids and with_special[:extra] == ids[:extra]:
        head_text = tok.decode(ids[:extra])
        if prompt.startswith(head_text) and tok(prompt[len(head_text):],
                                               add_special_tokens=True)["input_ids"] == ids:
            spot_prompt = prompt[len(head_text):]

    def spot_run(model_dir: str, lookup: int = 0) -> list[tuple[dict, float]]:
        cmd = [str(args.spot), "generate", "--model", model_dir, "--provider", "cpu",
               "--max-tokens", str(args.new_tokens), "--ignore-eos", "--stats=json",
               f"--lookup={lookup}", "--", spot_prompt]
        runs = [run_child(cmd) for _ in range(args.repeat)]
        n = runs[0][0].get("n_prompt_tokens")
        if n is not None and n != len(ids):
            print(f"warning: spot saw {n} prompt tokens, the other engines {len(ids)}",
                  file=sys.stderr)
        return runs

    def with_text(stats: dict) -> dict:
        if "ids" in stats:
            stats["text"] = tok.decode(stats.pop("ids"), skip_special_tokens=True)
        return stats

    results = []
    for label_dir in args.spot_model:
        label, model_dir = label_dir.split("=", 1)
        runs = spot_run(model_dir)
        results.append({"engine": "spot", "model": label, "dir": model_dir, **best(runs)})
        print(f"spot {label}: {results[-1]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)
        if args.lookup:
            runs = spot_run(model_dir, args.lookup)
            results.append({"engine": "spot", "model": f"{label} (prompt lookup)",
                            "dir": model_dir, **best(runs)})
            print(f"spot {label}, prompt lookup: {results[-1]['decode_tokens_per_s']:.1f} "
                  f"tokens/s", file=sys.stderr)
    for label_dir in args.genai_model:
        label, model_dir = label_dir.split("=", 1)
        cmd = [args.bench_python, str(HERE / "engine_genai.py"), model_dir, prompt_ids,
               str(args.new_tokens)]
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results.append({"engine": "onnxruntime-genai", "model": label, "dir": model_dir,
                        **with_text(best(runs))})
        print(f"genai {label}: {results[-1]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)
        # spot on the very same graph: compares the generation loops alone.
        try:
            runs = spot_run(model_dir)
            results.append({"engine": "spot", "model": f"{label} (genai graph)",
                            "dir": model_dir, **best(runs)})
        except RuntimeError as e:
            print(f"spot on the genai graph failed: {e}", file=sys.stderr)
        # And on that graph with its LM head on the last position only (keep_logits.py; same
        # weights, hard-linked): what prefill costs without the prompt's other logits.
        if args.keep_dir:
            keep = args.keep_dir / Path(model_dir).name
            if not (keep / "model.onnx").exists():
                subprocess.run([sys.executable, str(KEEP_LOGITS), model_dir, "--out", str(keep)],
                               check=True)
            try:
                runs = spot_run(str(keep))
                results.append({"engine": "spot", "model": f"{label} (last logits only)",
                                "dir": model_dir, **best(runs)})
            except RuntimeError as e:
                print(f"spot on the last-logits graph failed: {e}", file=sys.stderr)
        # And with prompt lookup, on the graph spot's models use (last logits only if made).
        if args.lookup:
            graph = args.keep_dir / Path(model_dir).name if args.keep_dir else Path(model_dir)
            try:
                runs = spot_run(str(graph), args.lookup)
                results.append({"engine": "spot", "model": f"{label} (prompt lookup)",
                                "dir": model_dir, **best(runs)})
            except RuntimeError as e:
                print(f"spot with prompt lookup failed: {e}", file=sys.stderr)
    for label_file in args.gguf:
        label, gguf = label_file.split("=", 1) if "=" in label_file else ("gguf", label_file)
        cmd = [args.bench_python, str(HERE / "engine_llama.py"), gguf, prompt_ids,
               str(args.new_tokens)]
        runs = [run_child(cmd) for _ in range(args.repeat)]
        results.append({"engine": "llama.cpp", "model": label, "gguf": gguf,
                        **with_text(best(runs))})
        print(f"llama.cpp {label}: {results[-1]['decode_tokens_per_s']:.1f} tokens/s",
              file=sys.stderr)
        if args.lookup:
            runs = [run_child(cmd + [str(args.lookup)]) for _ in range(args.repeat)]
            results.append({"engine": "llama.cpp", "model": f"{label} (prompt lookup)",
                            "gguf": gguf, **with_text(best(runs))})
            print(f"llama.cpp {label}, prompt lookup: "
                  f"{results[-1]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)

    # Bytes read per decoded token and the bound they imply.
    config = json.loads((Path(first_model) / "config.json").read_text())
    position = len(json.loads(prompt_ids)) + args.new_tokens / 2
    weights: dict[str, tuple[float, float]] = {}
    for r in results:
        key = r.get("dir") or r["gguf"]
        if key not in weights:
            # llama.cpp's KV cache is f16 unless asked otherwise (engine_llama.py does not).
            weights[key] = onnx_weight_bytes(Path(key)) if "dir" in r \
                else (gguf_weight_bytes(Path(key)), 2)
        w, kv_elem = weights[key]
        kv = kv_bytes_per_token(config, position, kv_elem)
        r["weight_bytes_per_token"], r["kv_bytes_per_token"] = w, kv
        r["bound_tokens_per_s"] = bandwidth / (w + kv)
        r["bandwidth_fraction"] = r["decode_tokens_per_s"] / r["bound_tokens_per_s"]

    print(f"\n{args.title}, greedy, {args.new_tokens} new tokens, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs\n")
    head = f"{'engine':<18} {'model':<30} {'decode tok/s':>12} {'prefill tok/s':>13} " \
           f"{'TTFT ms':>8} {'peak RSS MB':>11}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['engine']:<18} {r['model']:<30} {r['decode_tokens_per_s']:>12.1f} "
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
    print(f"\nmemory-bandwidth bound: {bandwidth / 1e9:.1f} GB/s read ({bandwidth_how}); bytes "
          f"per decoded token = weights + KV cache at the mean position {position:.0f}")
    head = f"{'engine':<18} {'model':<30} {'weights MB':>10} {'KV MB':>6} {'bound tok/s':>11} " \
           f"{'decode tok/s':>12} {'of bound':>8}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['engine']:<18} {r['model']:<30} {r['weight_bytes_per_token'] / 1e6:>10.1f} "
              f"{r['kv_bytes_per_token'] / 1e6:>6.1f} {r['bound_tokens_per_s']:>11.1f} "
              f"{r['decode_tokens_per_s']:>12.1f} {r['bandwidth_fraction']:>8.0%}")
    print("\nfirst 60 characters of each output:")
    for r in results:
        print(f"  {r['engine']} {r['model']}: {r['text'][:60]!r}")
    if args.json:
        args.json.write_text(json.dumps({"bandwidth_bytes_per_s": bandwidth,
                                         "bandwidth_method": bandwidth_how,
                                         "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
