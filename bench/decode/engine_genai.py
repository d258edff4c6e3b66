"""One onnxruntime-genai run (child of bench.py) on given prompt ids: prints one JSON line."""

import json
import sys
import time

import onnxruntime_genai as og


def main():
    model_dir, ids, n_new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    model = og.Model(model_dir)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + n_new, min_length=len(ids) + n_new,
                              do_sample=False)
    gen = og.Generator(model, params)
    t0 = time.perf_counter()
    gen.append_tokens(ids)
    t_prefill = time.perf_counter() - t0
    gen.generate_next_token()
    t_first = time.perf_counter() - t0
    n = 1
    t1 = time.perf_counter()
    while not gen.is_done() and n < n_new:
        gen.generate_next_token()
        n += 1
    t_decode = time.perf_counter() - t1
    out = [int(t) for t in gen.get_sequence(0)[len(ids):]]
    print(json.dumps({
        "n_prompt_tokens": len(ids), "n_new_tokens": n,
        "prefill_s": t_prefill, "first_token_s": t_first, "decode_s": t_decode,
        "prefill_tokens_per_s": len(ids) / t_prefill,
        "decode_tokens_per_s": (n - 1) / t_decode if t_decode > 0 else 0.0,
        "ids": out,
    }))


if __name__ == "__main__":
    main()
