#!/usr/bin/env python3
"""Fits spot's localization fusion on the repositories' own fix history.

Input: one report per repository from
    spot eval localize --repo REPO --limit 200 --json --signals > REPORT.json
Each case holds every signal's ranking of files (sources first, top 30, with scores) and the
gold files. The newest 50 cases of each repository are held out (they are the ones
bench/README.md reports); the rest are fitted on.

Two fusions are compared on the same cases:
- rrf: weighted reciprocal rank fusion, score = sum_s w_s / (K + rank_s + 1), the weights
  spot ships (reproduces spot's own ranking, as a check of this script);
- linear: per signal, a weight on the reciprocal rank and one on the score relative to the
  signal's best score; fitted by maximizing the likelihood of the gold files under a softmax
  over each case's candidates (a conditional logit), L2-regularized, by gradient ascent.

Prints Acc@1 / Recall@5 for both, fitting and held-out, per repository and on average, and
the fitted weights in the form `crates/spot-assist/src/localize.rs` takes.

Needs only numpy. Usage: fit_fusion.py REPORT.json... [--held-out 50] [--l2 0.01]
"""

import argparse
import json
import re

import numpy as np

K = 10.0
SIGNALS = ["paths", "symbols", "bm25", "bm25_files", "modules", "literals", "commits", "prior",
           "co_change"]
# The weights spot ships (Signal::weight).
RRF_WEIGHTS = {"paths": 4.0, "symbols": 1.5, "bm25": 3.0, "bm25_files": 4.0, "modules": 1.5,
               "literals": 0.5, "commits": 1.5, "prior": 0.5, "co_change": 0.25}

TEST_DIRS = {"test", "tests", "testdata", "testing", "__tests__", "spec", "fixtures"}
SUPPORT_DIRS = {"docs", "examples", "example", "bench", "benches", "benchmarks"}


def is_support(path):
    """Mirrors is_support_path in crates/spot-assist/src/localize.rs."""
    parts = path.split("/")
    name = parts[-1]
    test = (any(p in TEST_DIRS for p in parts) or name.startswith("test_")
            or name.endswith(("_test.go", "_test.py", "_tests.rs"))
            or ".test." in name or ".spec." in name or name == "conftest.py")
    return test or any(p in SUPPORT_DIRS or p.endswith(("-examples", "_examples")) for p in parts)


def tied_ranks(scores):
    out, start = [0.0] * len(scores), 0
    while start < len(scores):
        end = start
        while end < len(scores) and scores[end] == scores[start]:
            end += 1
        for i in range(start, end):
            out[i] = (start + end - 1) / 2.0
        start = end
    return out


def case_features(case):
    """Candidates, their feature matrix (2 per signal) and which are gold."""
    cands, where = [], {}
    rows = {}
    for ranking in case["signals"]:
        s = ranking["signal"]
        files = ranking["files"]
        if s not in SIGNALS or not files:
            continue
        scores = [sc for _, sc in files]
        best = max(scores) or 1.0
        for (path, score), r in zip(files, tied_ranks(scores)):
            if path not in where:
                where[path] = len(cands)
                cands.append(path)
            rows.setdefault(path, {})[s] = (1.0 / (K + r + 1.0), score / best)
    x = np.zeros((len(cands), 2 * len(SIGNALS)))
    for path, feats in rows.items():
        i = where[path]
        for s, (rr, rel) in feats.items():
            j = SIGNALS.index(s)
            x[i, 2 * j] = rr
            x[i, 2 * j + 1] = rel
    gold = np.array([p in case["gold_files"] for p in cands])
    support = np.array([is_support(p) for p in cands])
    return cands, x, gold, support


def ranking(cands, scores, support):
    # Sources first, then by score; ties by path as spot breaks them.
    order = sorted(range(len(cands)), key=lambda i: (support[i], -scores[i], cands[i]))
    return [cands[i] for i in order]


def metrics(cases, score_fn):
    acc1 = rec5 = 0.0
    for case, (cands, x, gold, support) in cases:
        ranked = ranking(cands, score_fn(x), support)
        golds = set(case["gold_files"])
        acc1 += bool(ranked) and ranked[0] in golds
        rec5 += len(golds & set(ranked[:5])) / len(golds)
    n = max(len(cases), 1)
    return acc1 / n, rec5 / n


def rrf_weights():
    w = np.zeros(2 * len(SIGNALS))
    for j, s in enumerate(SIGNALS):
        w[2 * j] = RRF_WEIGHTS[s]
    return w


def fit(cases, l2, steps=3000, lr=0.5):
    """Conditional logit, started from the shipped RRF weights."""
    w = rrf_weights()
    usable = [(x, gold) for _, (_, x, gold, _) in cases if gold.any()]
    for step in range(steps):
        grad = -l2 * (w - rrf_weights())
        for x, gold in usable:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            pg = p * gold
            pg /= pg.sum()
            grad += x.T @ (pg - p)
        w += lr * grad / len(usable)
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--held-out", type=int, default=50)
    ap.add_argument("--l2", type=float, default=0.01)
    args = ap.parse_args()

    fitting, held = [], {}
    for path in args.reports:
        report = json.load(open(path))
        name = re.sub(r".*/|\.json$", "", path)
        cases = [(c, case_features(c)) for c in report["cases"] if c.get("signals")]
        held[name] = cases[: args.held_out]
        fitting += cases[args.held_out:]
    w_rrf = rrf_weights()
    w_lin = fit(fitting, args.l2)

    print(f"fitting cases: {len(fitting)}; held out: {sum(len(c) for c in held.values())}")
    print(f"{'repository':<24} {'rrf Acc@1/R@5':>15} {'linear Acc@1/R@5':>18}")
    means = np.zeros(4)
    for name, cases in held.items():
        a = metrics(cases, lambda x: x @ w_rrf)
        b = metrics(cases, lambda x: x @ w_lin)
        means += np.array(a + b) / len(held)
        print(f"{name:<24} {a[0]:.3f} / {a[1]:.3f}   {b[0]:.3f} / {b[1]:.3f}")
    print(f"{'mean (held out)':<24} {means[0]:.3f} / {means[1]:.3f}   {means[2]:.3f} / {means[3]:.3f}")
    a = metrics(fitting, lambda x: x @ w_rrf)
    b = metrics(fitting, lambda x: x @ w_lin)
    print(f"{'fitting cases':<24} {a[0]:.3f} / {a[1]:.3f}   {b[0]:.3f} / {b[1]:.3f}")
    print("\nfitted weights (reciprocal rank, relative score):")
    for j, s in enumerate(SIGNALS):
        print(f"  {s:<11} {w_lin[2 * j]:8.3f} {w_lin[2 * j + 1]:8.3f}")


if __name__ == "__main__":
    main()
