"""Decode benchmark: spot vs onnxruntime-genai vs llama.cpp on the same model, same run.

Each engine runs in its own child process (peak RSS per engine, from GNU time), on the same
prompt token ids (the chat-rendered prompt, tokenized once by transformers: onnxruntime-genai's
own tokenizer mishandles this GGUF-converted tokenizer.json), greedy, a fixed number of new
tokens (end-of-sequence ignored). The engines are interleaved: each of --repeat rounds runs every
engine once, in the listed order in even rounds and in the reverse order in odd ones, so that
drift of a shared machine moves all engines alike. Prints the median over the rounds of decode
tokens/s, prefill tokens/s, time to first token and peak RSS, and for each spot row against each
anchor the median of the per-round ratios (the two runs of one round) with their range; nothing
is best-of-N. Started by bench/decode/run.sh, which builds what it needs.

Also printed, as information and not as a bound: the bytes one decoded token reads (every
initializer of the ONNX graph, or every tensor of the GGUF, at its stored size; an embedding table
used only by a Gather counts one row; + the KV cache at the mean decode position) and the read
rate that implies at the measured decode speed (MB/token x tokens/s). An earlier version divided
by a numpy-sum "read bandwidth" and called the result a bound; spot's decode came out above it
(107-110%), because a numpy int64 sum is not the machine's peak read rate (and a shared VM's read
rate moves between runs), so it bounded nothing and was dropped.
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
KEEP_LOGITS = HERE.parent.parent / "fixtures" / "models" / "keep_logits.py"
PROMPT = "Write a Python function that adds two numbers."


TIME = "/usr/bin/time"


def run_child(cmd: list[str], env: dict | None = None) -> tuple[dict, float]:
    """Runs `cmd` under GNU time, returns (the JSON line it printed, peak RSS in MB).

    GNU time measures its own child; a child forked straight from this (large) python process
    would report the parent's RSS as its own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *cmd] if Path(TIME).exists() else cmd
        proc = subprocess.run(wrapped, check=False, capture_output=True, text=True,
                              env={**os.environ, **env} if env else None)
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


def median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def summary(runs: list[tuple[dict, float]]) -> dict:
    """Medians over the rounds; the per-round values are kept for the paired ratios."""
    stats = runs[0][0].copy()
    for key in ("decode_tokens_per_s", "prefill_tokens_per_s", "first_token_s"):
        stats[key] = median([r[0][key] for r in runs])
        stats["rounds_" + key] = [r[0][key] for r in runs]
    stats["peak_rss_mb"] = median([r[1] for r in runs])
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
    p.add_argument("--llama-python", help="python with llama-cpp-python, where it is another "
                   "(default: --bench-python)")
    p.add_argument("--prompt-text", help="the prompt, already rendered (default: the chat "
                   "template applied to a coding request)")
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--lookup", type=int, default=0, metavar="N",
                   help="also run each --spot-model and --gguf with prompt lookup (N draft "
                   "tokens; spot's --lookup, llama-cpp-python's LlamaPromptLookupDecoding); "
                   "the other rows decode one token per run")
    p.add_argument("--llama-omp-passive", action="store_true",
                   help="also run each GGUF with OMP_WAIT_POLICY=PASSIVE: llama.cpp's OpenMP "
                   "threads then sleep at barriers instead of spinning, its faster setting on a "
                   "machine whose cores are busy with other work (slower or equal on an idle one)")
    p.add_argument("--repeat", type=int, default=5,
                   help="interleaved rounds (every engine once per round); medians are printed")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
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

    def spot_cmd(model_dir: str, lookup: int = 0) -> list[str]:
        return [str(args.spot), "generate", "--model", model_dir, "--provider", "cpu",
                "--max-tokens", str(args.new_tokens), "--ignore-eos", "--stats=json",
                f"--lookup={lookup}", "--", spot_prompt]

    def with_text(stats: dict) -> dict:
        if "ids" in stats:
            stats["text"] = tok.decode(stats.pop("ids"), skip_special_tokens=True)
        return stats

    # Every (engine, model) to run: label fields and the command of one run.
    jobs: list[dict] = []
    for label_dir in args.spot_model:
        label, model_dir = label_dir.split("=", 1)
        jobs.append({"engine": "spot", "model": label, "dir": model_dir,
                     "cmd": spot_cmd(model_dir)})
        if args.lookup:
            jobs.append({"engine": "spot", "model": f"{label} (prompt lookup)", "dir": model_dir,
                         "cmd": spot_cmd(model_dir, args.lookup)})
    for label_dir in args.genai_model:
        label, model_dir = label_dir.split("=", 1)
        jobs.append({"engine": "onnxruntime-genai", "model": label, "dir": model_dir,
                     "cmd": [args.bench_python, str(HERE / "engine_genai.py"), model_dir,
                             prompt_ids, str(args.new_tokens)]})
        # spot on the very same graph: compares the generation loops alone.
        jobs.append({"engine": "spot", "model": f"{label} (genai graph)", "dir": model_dir,
                     "cmd": spot_cmd(model_dir)})
        # And on that graph with its LM head on the last position only (keep_logits.py; same
        # weights, hard-linked): what prefill costs without the prompt's other logits.
        graph = Path(model_dir)
        if args.keep_dir:
            graph = args.keep_dir / Path(model_dir).name
            if not (graph / "model.onnx").exists():
                subprocess.run([sys.executable, str(KEEP_LOGITS), model_dir, "--out", str(graph)],
                               check=True)
            jobs.append({"engine": "spot", "model": f"{label} (last logits only)",
                         "dir": model_dir, "cmd": spot_cmd(str(graph))})
        # And with prompt lookup, on the graph spot's models use (last logits only if made).
        if args.lookup:
            jobs.append({"engine": "spot", "model": f"{label} (prompt lookup)", "dir": model_dir,
                         "cmd": spot_cmd(str(graph), args.lookup)})
    for label_file in args.gguf:
        label, gguf = label_file.split("=", 1) if "=" in label_file else ("gguf", label_file)
        cmd = [args.llama_python or args.bench_python, str(HERE / "engine_llama.py"), gguf, prompt_ids,
               str(args.new_tokens)]
        jobs.append({"engine": "llama.cpp", "model": label, "gguf": gguf, "cmd": cmd})
        if args.llama_omp_passive:
            jobs.append({"engine": "llama.cpp", "model": f"{label} (OMP passive)", "gguf": gguf,
                         "cmd": cmd, "env": {"OMP_WAIT_POLICY": "PASSIVE"}})
        if args.lookup:
            jobs.append({"engine": "llama.cpp", "model": f"{label} (prompt lookup)",
                         "gguf": gguf, "cmd": cmd + [str(args.lookup)]})

    # Interleaved rounds: every job once per round, the order reversed every other round.
    runs: dict[int, list[tuple[dict, float]]] = {i: [] for i in range(len(jobs))}
    failed: set[int] = set()
    load_before = os.getloadavg()
    for rnd in range(args.repeat):
        order = list(range(len(jobs)))
        if rnd % 2:
            order.reverse()
        for i in order:
            if i in failed:
                continue
            try:
                runs[i].append(run_child(jobs[i]["cmd"], jobs[i].get("env")))
            except RuntimeError as e:
                print(f"{jobs[i]['engine']} {jobs[i]['model']} failed: {e}", file=sys.stderr)
                failed.add(i)
                continue
            print(f"round {rnd + 1}: {jobs[i]['engine']} {jobs[i]['model']}: "
                  f"{runs[i][-1][0]['decode_tokens_per_s']:.1f} tokens/s", file=sys.stderr)
    load_after = os.getloadavg()
    results = []
    for i, job in enumerate(jobs):
        if i in failed or not runs[i]:
            continue
        n = runs[i][0][0].get("n_prompt_tokens")
        if job["engine"] == "spot" and n is not None and n != len(ids):
            print(f"warning: spot saw {n} prompt tokens, the other engines {len(ids)}",
                  file=sys.stderr)
        fields = {k: v for k, v in job.items() if k not in ("cmd", "env")}
        results.append({**fields, **with_text(summary(runs[i]))})

    # Bytes read per decoded token, and the read rate that implies (information, not a bound).
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
        r["read_rate_bytes_per_s"] = (w + kv) * r["decode_tokens_per_s"]

    print(f"\n{args.title}, greedy, {args.new_tokens} new tokens, {args.repeat} interleaved rounds, "
          f"medians; {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after (1 min)\n")
    head = f"{'engine':<18} {'model':<30} {'decode tok/s':>12} {'prefill tok/s':>13} " \
           f"{'TTFT ms':>8} {'peak RSS MB':>11} {'MB/token':>8} {'GB/s read':>9}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['engine']:<18} {r['model']:<30} {r['decode_tokens_per_s']:>12.1f} "
              f"{r['prefill_tokens_per_s']:>13.0f} {r['first_token_s'] * 1e3:>8.1f} "
              f"{r['peak_rss_mb']:>11.0f} "
              f"{(r['weight_bytes_per_token'] + r['kv_bytes_per_token']) / 1e6:>8.0f} "
              f"{r['read_rate_bytes_per_s'] / 1e9:>9.1f}")
    anchors = [r for r in results if r["engine"] != "spot"]
    spots = [r for r in results if r["engine"] == "spot"]

    def paired(s: dict, a: dict, key: str, invert: bool = False) -> str:
        pairs = list(zip(s["rounds_" + key], a["rounds_" + key]))
        ratios = [(y / x) if invert else (x / y) for x, y in pairs]
        return f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"

    if anchors and spots:
        print("\nratios spot / anchor, median of the per-round ratios (range); decode, prefill, "
              "1/TTFT; >1 means spot is faster")
        for s in spots:
            for a in anchors:
                print(f"  spot {s['model']:<24} vs {a['engine']} {a['model']:<14}: "
                      f"decode {paired(s, a, 'decode_tokens_per_s')}, "
                      f"prefill {paired(s, a, 'prefill_tokens_per_s')}, "
                      f"TTFT {paired(s, a, 'first_token_s', invert=True)}")
    print(f"\nMB/token: weights + KV cache a decoded token reads (mean position {position:.0f}); "
          "GB/s read = MB/token x decode tok/s. Information only: no bound is implied.")
    print("\nfirst 60 characters of each output:")
    for r in results:
        print(f"  {r['engine']} {r['model']}: {r['text'][:60]!r}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.repeat, "load_average":
                                         [load_before, load_after], "results": results},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
