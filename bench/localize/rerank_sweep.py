#!/usr/bin/env python3
"""Acc@1 of spot's model rerank at other weights, from `spot eval localize --json --rerank-model`
reports (each case keeps the reranked files' fused scores and the model's loss).

    spot eval localize --repo REPO --limit 50 --json --rerank-model DIR > REPORT.json
    python3 bench/localize/rerank_sweep.py REPORT.json...

Per report: Acc@1 with the model's ranking added at each weight (0 = spot alone; the shipped
weight is 4), with the model's order alone, and how often the gold is among the reranked files.
The fusion is the server's: fused + weight / (10 + model rank), ties to the fused order.
"""
import json
import sys

RRF_K = 10.0
WEIGHTS = [0, 1, 2, 4, 8, 16]


def pick(rerank, weight):
    order = sorted(range(len(rerank)), key=lambda i: (rerank[i]["nll"], i))
    model_rank = {i: k for k, i in enumerate(order)}
    if weight is None:
        return order[0]
    return max(
        range(len(rerank)),
        key=lambda i: (rerank[i]["fused"] + weight / (RRF_K + model_rank[i] + 1), -i),
    )


def main(paths):
    if not paths:
        sys.exit(__doc__)
    totals = {}
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        hits = {w: 0 for w in WEIGHTS + [None]}
        within = 0
        cases = report["cases"]
        for case in cases:
            gold = set(case["gold_files"])
            rerank = case.get("rerank") or []
            if not rerank:
                top = case["spot_files"][:1]
                for w in hits:
                    hits[w] += bool(top) and top[0] in gold
                continue
            within += any(r["path"] in gold for r in rerank)
            for w in hits:
                hits[w] += rerank[pick(rerank, w)]["path"] in gold
        n = len(cases)
        cells = " ".join(f"w{w}={hits[w] / n:.3f}" for w in WEIGHTS)
        print(f"{report['repo']}: {n} cases  {cells}  model alone={hits[None] / n:.3f}  "
              f"gold reranked={within / n:.2f}")
        for w, h in hits.items():
            totals.setdefault(w, []).append(h / n)
    cells = " ".join(f"w{w}={sum(totals[w]) / len(totals[w]):.3f}" for w in WEIGHTS)
    print(f"mean over {len(paths)}: {cells}  model alone={sum(totals[None]) / len(totals[None]):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
