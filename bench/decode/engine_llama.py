"""One llama.cpp run through llama-cpp-python (child of bench.py) on given prompt ids."""

import json
import os
import sys
import time

from llama_cpp import Llama


def main():
    gguf, ids, n_new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
    llm = Llama(model_path=gguf, n_ctx=1024, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False)
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


if __name__ == "__main__":
    main()
