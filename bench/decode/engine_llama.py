"""One llama.cpp run through llama-cpp-python (child of bench.py) on given prompt ids.

Usage: engine_llama.py GGUF IDS_JSON N_NEW [LOOKUP]. With LOOKUP > 0, greedy decoding with
llama-cpp-python's prompt lookup (LlamaPromptLookupDecoding, LOOKUP draft tokens; it needs the
logits of every position, `logits_all`), the anchor for spot's `--lookup`; the first token's time
is then prefill plus that token's sampling.
"""

import json
import os
import sys
import time

from llama_cpp import Llama
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding


def main():
    gguf, ids, n_new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    lookup = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
    n_ctx = max(1024, len(ids) + n_new + 16)
    draft = LlamaPromptLookupDecoding(num_pred_tokens=lookup) if lookup > 0 else None
    llm = Llama(model_path=gguf, n_ctx=n_ctx, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False, draft_model=draft,
                # llama-cpp-python checks drafts against stored logits of every position.
                logits_all=lookup > 0)
    if lookup > 0:
        return with_lookup(llm, ids, n_new)
    t0 = time.perf_counter()
    llm.eval(ids)
    t_prefill = time.perf_counter() - t0
    out = [llm.sample(temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)]
    t_first = time.perf_counter() - t0
    t1 = time.perf_counter()
    while len(out) < n_new:
        llm.eval([out[-1]])
        out.append(llm.sample(temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0))
    t_decode = time.perf_counter() - t1
    print(json.dumps({
        "n_prompt_tokens": len(ids), "n_new_tokens": len(out),
        "prefill_s": t_prefill, "first_token_s": t_first, "decode_s": t_decode,
        "prefill_tokens_per_s": len(ids) / t_prefill,
        "decode_tokens_per_s": (len(out) - 1) / t_decode if t_decode > 0 else 0.0,
        "ids": [int(t) for t in out],
    }))


def with_lookup(llm, ids, n_new):
    out = []
    t0 = time.perf_counter()
    t_first = t1 = t0
    for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0,
                              repeat_penalty=1.0, reset=True):
        out.append(token)
        if len(out) == 1:
            t_first = t1 = time.perf_counter()
        if len(out) == n_new:
            break
    t_decode = time.perf_counter() - t1
    print(json.dumps({
        "n_prompt_tokens": len(ids), "n_new_tokens": len(out),
        "prefill_s": t_first - t0, "first_token_s": t_first - t0, "decode_s": t_decode,
        "prefill_tokens_per_s": len(ids) / (t_first - t0),
        "decode_tokens_per_s": (len(out) - 1) / t_decode if t_decode > 0 else 0.0,
        "ids": [int(t) for t in out],
    }))


if __name__ == "__main__":
    main()
